"""The pure JAX core: branches, weight laws, samplers, the scan engine, the limit solvers and
the training step. No pandas, no files, no Hydra."""
