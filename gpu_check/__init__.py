"""`make gpu-check`: a prepared check of the GPU path for a CUDA machine with no network (see README)."""
