"""The usual ways an encoder block, a stack of blocks and the positional encoding go wrong, worked out here
so that a hint names a mistake only when the learner's output is that mistake's and no other's.

Each variant is computed with the same weights, input and mask as the case that failed, and counts only
where it differs from the right answer there; when no variant, or more than one, matches, the hint is a
question that names no mistake.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from grader.checks.compare import Tolerance, is_close

BLOCK_GENERIC = (
    "Go through your forward beside nn.TransformerEncoderLayer's: the attention, its residual sum, the "
    "feed-forward network and its residual sum, and where each LayerNorm sits. Which step first gives "
    "something else?"
)
BLOCK_HINTS = {
    "gelu": "Your output is the block with GELU in the feed-forward network: which activation does the SPEC "
    "name?",
    "no_attention_residual": "Your output is the block without the residual around the attention: is the "
    "attention's input added back to its result?",
    "no_feed_forward_residual": "Your output is the block without the residual around the feed-forward "
    "network: is its input added back to its result?",
    "norm_of_sublayer": "Your output normalises each sub-layer's result and then adds x: in post-norm, "
    "does the LayerNorm take the sub-layer's result or the sum?",
    "residual_from_normed_input": "Your output adds the attention's result to norm1(x): in pre-norm, which "
    "x does the residual carry, the normalised one or the block's input?",
    "other_placement": "Your output is the block with the other norm placement: is norm_first followed?",
    "one_layer_norm": "Your output is the block with norm2's weights in both LayerNorms: are norm1 and norm2 "
    "one LayerNorm (self.norm1 = self.norm2 = ...)? Each needs its own.",
    "mask_dropped": "Your output with the mask equals the block's output without one: is the mask passed on "
    "to self_attn?",
}
STACK_GENERIC = (
    "Does your Encoder run every block of .layers in order, each on the previous one's output and with the "
    "mask, and end with .norm exactly when norm_first?"
)
STACK_HINTS = {
    "no_final_norm": "Your pre-norm Encoder's output is its last block's: does the pre-norm stack end with "
    ".norm?",
    "extra_final_norm": "Your post-norm Encoder ends with a LayerNorm too: which of the two stacks has one?",
    "mask_dropped": "Your Encoder's output is its blocks' without the mask: is the mask passed on to every "
    "block?",
    "shared_block": "Your Encoder's output is the last layer's weights applied num_layers times: do the "
    "layers share one block ([block] * num_layers)? Each layer needs an EncoderBlock of its own.",
}


def one_match(variants: dict[str, torch.Tensor], correct, got, tolerance: Tolerance, hints, generic) -> str:
    """``hints[name]`` of the one variant ``got`` is (among those unlike ``correct``); else ``generic``."""
    if not isinstance(got, torch.Tensor):
        return generic
    got = got.detach().double()
    matches = [
        name
        for name, output in variants.items()
        if is_close(got, output.double(), tolerance) and not is_close(output.double(), correct, tolerance)
    ]
    return hints[matches[0]] if len(matches) == 1 else generic


def block_hint(reference, x: torch.Tensor, mask, norm_first: bool, got) -> str:
    """The block mistake ``got`` is, with ``reference``'s weights on ``x`` (eval mode, float64)."""
    block = copy.deepcopy(reference).double().eval()
    x = x.double()
    with torch.no_grad():

        def attend(h, with_mask=True):
            return block.self_attn(h, mask if with_mask else None)

        def feed_forward(h, activation: Callable = torch.relu):
            return block.linear2(activation(block.linear1(h)))

        n1, n2 = block.norm1, block.norm2
        post = n1(x + attend(x))
        pre = x + attend(n1(x))
        outputs = {
            "post": n2(post + feed_forward(post)),
            "pre": pre + feed_forward(n2(pre)),
        }
        # one LayerNorm held as both: loading norm1's weights, then norm2's, leaves norm2's in it
        one_post, one_pre = n2(x + attend(x)), x + attend(n2(x))
        one_norm = {"post": n2(one_post + feed_forward(one_post)), "pre": one_pre + feed_forward(n2(one_pre))}
        if norm_first:
            correct = outputs["pre"]
            variants = {
                "gelu": pre + feed_forward(n2(pre), F.gelu),
                "no_attention_residual": attend(n1(x)) + feed_forward(n2(attend(n1(x)))),
                "no_feed_forward_residual": feed_forward(n2(pre)),
                "residual_from_normed_input": _pre_from_normed(n1(x), attend, feed_forward, n2),
                "other_placement": outputs["post"],
                "one_layer_norm": one_norm["pre"],
            }
        else:
            correct = outputs["post"]
            sublayer_normed = x + n1(attend(x))
            variants = {
                "gelu": n2(post + feed_forward(post, F.gelu)),
                "no_attention_residual": n2(n1(attend(x)) + feed_forward(n1(attend(x)))),
                "no_feed_forward_residual": n2(feed_forward(post)),
                "norm_of_sublayer": sublayer_normed + n2(feed_forward(sublayer_normed)),
                "other_placement": outputs["pre"],
                "one_layer_norm": one_norm["post"],
            }
        if mask is not None:
            unmasked = n1(x + attend(x, False)) if not norm_first else x + attend(n1(x), False)
            variants["mask_dropped"] = (
                unmasked + feed_forward(n2(unmasked)) if norm_first else n2(unmasked + feed_forward(unmasked))
            )
    tolerance = Tolerance.for_dtype(reference.linear1.weight.dtype, 10)
    return one_match(variants, correct, got, tolerance, BLOCK_HINTS, BLOCK_GENERIC)


def _pre_from_normed(normed, attend, feed_forward, n2):
    residual = normed + attend(normed)
    return residual + feed_forward(n2(residual))


def stack_hint(stages: list[torch.Tensor], rerun: Callable, final_norm, norm_first: bool, got) -> str:
    """The stack mistake ``got`` is: ``stages`` are the learner's own blocks' outputs in order (with the
    mask); ``rerun(mask=..., shared=...)`` runs them again without the mask, or all with the last layer's
    weights; ``final_norm`` is the pre-norm stack's last LayerNorm."""
    last = stages[-1].double()
    correct = final_norm(last) if norm_first else last
    variants = {}
    if norm_first:
        variants["no_final_norm"] = last
    else:
        variants["extra_final_norm"] = F.layer_norm(last, last.shape[-1:])  # a LayerNorm the grader never set
    for name, options in (("mask_dropped", {"masked": False}), ("shared_block", {"shared": True})):
        try:
            output = rerun(**options).double()
        except Exception:  # noqa: BLE001 - the learner's blocks may refuse; then this variant is not tried
            continue
        variants[name] = final_norm(output) if norm_first else output
    tolerance = Tolerance.for_dtype(stages[-1].dtype, 10)
    return one_match(variants, correct, got, tolerance, STACK_HINTS, STACK_GENERIC)
