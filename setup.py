"""Build of the C core: one extension module, vqcodec._core, from plain C99 sources."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vqcodec._core",
            sources=[
                "csrc/module.c",
                "csrc/entropy.c",
                "csrc/entropy2.c",
                "csrc/pack.c",
                "csrc/kmeans.c",
                "csrc/dither.c",
                "csrc/blocks.c",
            ],
            depends=["csrc/vqcore.h", "csrc/kmeans_glue.h", "csrc/blocks_glue.h"],
            # -ffp-contract=off: no fused multiply-adds, so float results (k-means) are the
            # same whatever the compiler chooses to contract.
            extra_compile_args=["-std=c99", "-O2", "-ffp-contract=off"],
        )
    ]
)
