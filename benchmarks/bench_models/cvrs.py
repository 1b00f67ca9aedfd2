"""CVRS: down-sampler + IMSM + up-sampler (``resample``) on 7 frames of 576x720, x2 time / x4 space.

``resample(hr, (4, 144, 180))`` runs the learned down-sampler (7 -> 4 frames, 576x720 ->
144x180), hides the latent with the IMSM, quantises the stego to 8 bits, reveals it and
up-samples back to 7 x 576 x 720. The config is a plausible x2/x4 Mix setting (the real
ones ship only inside the authors' weight archives): M = 64, 4 down blocks, dim 64,
6 stages of 2 dense blocks + a depth-2 Swin layer (4 heads, window 3x7x7), f = 64,
8 couplings per IMSM level (16.5 M parameters with the IMSM's unused down-sampler copy).

Two cases differ only in ``max_chunk_bytes``, the working-set budget of one tile of the
implicit heads (and of one row band of the down-sampler's full-resolution trunk): the
peak memory follows the budget; a smaller budget costs halo recomputation.

``cvrs_rescaler_up_*`` is the authors' timed workload (``authors_anchors``, the CVRS rows):
``RescalerNet.inference_up`` of the conformance fixture's configuration (1.48 M parameters:
down-sampler M = 32 with 2 blocks, dense up-sampler M = 64 with 3 blocks, f = 40) on a latent of
4 x 144 x 180 to (7, 576, 720), which is ``decode`` (with the authors' clamp) at the default
256 MiB budget. The authors ran it untiled and in 1x2 and 2x2 tiles: the same output, three anchors.
"""

from __future__ import annotations

import torch

from stvsr.models.cvrs_checkpoints import cvrs, cvrs_rescaler

_SMALL = {
    "down_channels": 8,
    "down_blocks": 1,
    "up_channels": 8,
    "up_blocks": 1,
    "fuse_channels": 4,
    "depths": (1,),
    "num_heads": (2,),
    "window_size": (2, 4, 4),
    "imsm_blocks": 1,
}
# the conformance fixture's RescalerNet (tests/data/conformance/cvrs_rescaler), which the authors' figures ran
_RESCALER = {
    "down_channels": 32,
    "down_blocks": 2,
    "up_variant": "dense",
    "up_channels": 64,
    "up_blocks": 3,
    "fuse_channels": 40,
    "depths": (),
    "num_heads": (),
}
_SMALL_RESCALER = {
    **_RESCALER,
    "down_channels": 4,
    "down_blocks": 1,
    "up_channels": 8,
    "up_blocks": 1,
    "fuse_channels": 4,
}


def cases(quick: bool) -> list[dict]:
    """Full size: 7 x 576 x 720 at budgets 256 MiB and 1 GiB, and the authors' up-sampling. Quick: 7 x 32 x 48,
    tiny widths."""
    t, h, w = (7, 32, 48) if quick else (7, 576, 720)
    overrides = _SMALL if quick else {}
    budgets = (2**20, 2**24) if quick else (256 * 2**20, 2**30)

    def clip() -> torch.Tensor:
        return torch.rand(1, t, 3, h, w, generator=torch.Generator().manual_seed(0))

    out = []
    for budget in budgets:
        out.append(
            {
                "name": f"cvrs_resample_{t}x{h}x{w}_t2s4_budget{budget // 2**20 or budget // 2**10}"
                f"{'M' if budget >= 2**20 else 'K'}",
                "build": lambda: cvrs(**overrides).eval(),
                "inputs": lambda budget=budget: ((clip(), (4, h // 4, w // 4)), {"max_chunk_bytes": budget}),
                "method": "resample",
                "out_frames": t,
                "dtypes": ["float32", "bfloat16"],
            }
        )
    rescaler = _SMALL_RESCALER if quick else _RESCALER
    lh, lw = h // 4, w // 4
    out.append(
        {
            "name": f"cvrs_rescaler_up_4x{lh}x{lw}_to_{t}x{h}x{w}",
            "build": lambda: cvrs_rescaler(**rescaler).eval(),
            "inputs": lambda: (
                (torch.rand(1, 4, 3, lh, lw, generator=torch.Generator().manual_seed(0)), (t, h, w)),
                {},
            ),
            "method": "decode",
            "out_frames": t,
            "dtypes": ["float32", "bfloat16"],
            "anchors": ("cvrs_untiled", "cvrs_tiled_1x2", "cvrs_tiled_2x2"),
        }
    )
    return out
