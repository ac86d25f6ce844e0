"""The torch engine: cpu, cuda and mps cells with transformers, peft and the torch quantizers."""
