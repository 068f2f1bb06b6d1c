"""comfyq's benchmarks: `python -m bench` measures every figure beside its baseline (see bench/README.md)."""
