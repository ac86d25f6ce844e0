"""mlx-lm QLoRA as one command: quantize the base with `mlx_lm convert`, then `mlx_lm lora` on the result.

mlx-lm's `lora` trains on whatever base it is given; QLoRA means giving it a quantized one, which
`mlx_lm convert -q` writes. This wrapper only chains the two real commands (no training code of its
own), so the cell exercises mlx-lm's own quantization and LoRA paths.

    python mlx_lm_qlora.py --model HF_DIR --quantized-path OUT [--q-bits 4] [--q-group-size 64] LORA_ARGS...

Everything after the wrapper's own options goes to `python -m mlx_lm lora`, with `--model OUT`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the unquantized Hugging Face model folder")
    parser.add_argument("--quantized-path", required=True, help="where mlx_lm convert writes the quantized base")
    parser.add_argument("--q-bits", default="4")
    parser.add_argument("--q-group-size", default="64")
    options, lora_args = parser.parse_known_args(argv)
    convert = [
        sys.executable, "-m", "mlx_lm", "convert", "--hf-path", options.model, "--mlx-path", options.quantized_path,
        "-q", "--q-bits", options.q_bits, "--q-group-size", options.q_group_size,
    ]  # fmt: skip
    converted = subprocess.run(convert, check=False)
    if converted.returncode != 0:
        return converted.returncode
    lora = [sys.executable, "-m", "mlx_lm", "lora", "--model", options.quantized_path, *lora_args]
    return subprocess.run(lora, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
