"""The MLX engine: cells on Apple's MLX through mlx-lm (Metal on Macs, CPU or CUDA elsewhere)."""
