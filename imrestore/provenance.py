"""What a checkpoint's record says about its weights, in words (no torch: the plugins list it at start-up)."""
from __future__ import annotations


def trained_for(meta: dict) -> str:
    """What a checkpoint says it was trained for, in words: its chain, or how it learnt from noisy data, and on what.

    >>> trained_for({"corruptions": ["gaussian:sigma=25"], "data": "skimage"})
    'trained for gaussian:sigma=25 on skimage'
    >>> trained_for({"corruptions": [], "targets": "self", "self_supervised": {"method": "sure"}, "data": "stack.tif"})
    'trained on the noisy data stack.tif themselves (sure)'
    >>> trained_for({})
    'what it was trained for is not recorded'
    >>> trained_for({"corruptions": ["downsample:factor=2"], "options": {"scales": [2, 3, 4]}, "data": "skimage"})
    'trained for down-sampling by 2, 3 and 4 (each batch one scale) on skimage'
    """
    data = meta.get("data")
    on = f" on {data}" if data else ""
    scales = (meta.get("options") or {}).get("scales") or []
    if len(scales) > 1:
        return f"trained for down-sampling by {', '.join(map(str, scales[:-1]))} and {scales[-1]} (each batch one scale){on}"
    if meta.get("self_supervised") is not None:
        return f"trained on the noisy data {data or ''} themselves ({meta['self_supervised'].get('method', '?')})".replace("  ", " ")
    if meta.get("pairs"):
        return f"trained on two acquisitions, {data} and {meta['pairs']} (Noise2Noise)"
    if meta.get("corruptions"):
        return f"trained for {' '.join(meta['corruptions'])}{on}"
    return f"trained{on} with no corruption recorded" if data else "what it was trained for is not recorded"
