"""qlora-check: real, tiny fine-tuning runs that prove which LoRA/QLoRA setups work on this host."""

__version__ = "0.1.0"
