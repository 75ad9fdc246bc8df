"""Numba kernels: loops over typed arrays that fill `out`. numpy and numba only.

Call them through `kernels.dispatch`, which picks CUDA or CPU once.
"""
