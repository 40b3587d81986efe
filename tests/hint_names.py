"""Which mistake each hint names, for the hint-precision test in ``test_checks_catch_faults.py``.

A hint may name a mistake only when the learner's output is that mistake's and no other's; any other
failure gets a question that names none. ``NAMING`` lists each hint that names a mistake, by a phrase of
its own, with the mutants whose mistake that is; ``GENERIC`` lists the questions that name none. Every
first hint the mutant corpus gets must be one or the other: a new hint that is neither fails the test
until it is placed here, so the test cannot pass by not knowing a hint.
"""

from __future__ import annotations

NAMING: dict[str, set[str]] = {
    # 1 softmax
    "which axis did the caller ask for": {"softmax_ignores_axis"},
    "Is the maximum you subtract taken per slice": {"softmax_max_over_whole_array"},
    "Is the sum you divide by taken per slice": {"softmax_sums_over_whole_array"},
    "What is exp(1e4) in floating point": {"softmax_without_max_subtraction"},
    "what is -inf - (-inf)": {"softmax_nan_on_all_minus_inf_slice"},
    "Does a float32 input stay float32": {"softmax_returns_float64_for_float32"},
    "Do you subtract into x itself": {"softmax_subtracts_max_in_place"},
    # 2 attention
    "Which axis of q holds d_k": {"attention_d_k_from_keys_length"},
    "The weights match no scaling at all": {"attention_without_scale"},
    "Are you dividing by √d_k or by d_k": {"scales_by_d_not_sqrt_d"},
    "Is √d_k computed in float32": {"lesson_sqrt_of_float32_tensor"},
    "in which order is the pair returned": {"returns_weights_and_output_swapped"},
    "Do you scale q with an in-place op": {"scales_q_in_place"},
    "The weights look normalised over the queries": {"softmax_over_queries_not_keys"},
    # 3 masking
    "May a query see its own position": {"causal_mask_hides_the_diagonal"},
    "Which triangle": {"causal_mask_upper_triangle"},
    "is one (size, size) grid": {"causal_mask_with_extra_leading_axis"},
    "filled with a large negative number gets uniform weights": {
        "fills_masked_scores_with_minus_1e9",
        "fills_with_finfo_min_without_zeroing_rows",
    },
    "Masked scores filled with 0 still get weight": {"fills_masked_scores_with_zero"},
    "Do you use an in-place op (masked_fill_, /=) on an input": {"inverts_callers_mask_in_place"},
    "Is the mask inverted": {"mask_inverted"},
    "Is the mask applied before the softmax": {"masks_weights_after_softmax"},
    "What does softmax do with a row that is all -inf": {"nan_on_fully_masked_rows"},
    "A nan made in the forward pass comes back": {
        "nan_to_num_after_additive_minus_inf_bias",
        "nan_on_fully_masked_rows",
    },
    # 4 self_attention
    "is the mask passed on to the attention": {"self_attention_drops_mask"},
    "query projection used for keys and values too": {"shares_one_projection_for_qkv"},
    "Does forward hand back the attention output alone": {"self_attention_returns_output_and_weights"},
    # 5 multi_head
    "merged with their features interleaved": {"merges_heads_in_wrong_order"},
    "Is anything detached": {"multi_head_merges_heads_through_data"},
    "merged heads before out_proj": {"no_out_proj"},
    "scores scaled by 1/√embed_dim": {"scales_by_sqrt_embed_dim"},
    "split by a reshape straight to": {"splits_heads_with_view_not_transpose"},
    "bias=bias), named so": {"ignores_bias_argument"},
    # 6 encoder
    "Is dropout switched off by model.eval()": {"dropout_active_in_eval_mode"},
    "do the layers share one block": {"encoder_repeats_one_block"},
    "with GELU in the feed-forward network": {"gelu_instead_of_relu"},
    "the other norm placement": {"ignores_norm_first"},
    "without the residual around the attention": {"no_residual_around_attention"},
    "are norm1 and norm2 one LayerNorm": {"norm1_and_norm2_one_layer_norm"},
    "10000^(i / embed_dim)": {"pe_exponent_i_over_d_not_2i_over_d"},
    "all the sines first": {"pe_sines_then_cosines"},
    "normalises each sub-layer's result and then adds x": {"post_norm_normalises_sublayer_not_sum"},
    "does the pre-norm stack end with .norm": {"pre_norm_encoder_skips_final_norm"},
    "adds the attention's result to norm1(x)": {"pre_norm_residual_added_to_normed_input"},
    # 7 classifier
    "as a [CLS] token's": {"classifier_pools_first_token"},
    "the output at the last real position": {"classifier_pools_last_real_token"},
    "divided by the number of real positions": {"classifier_sum_pools_real_positions"},
    "or a max over the positions": {"classifier_max_pools_real_positions"},
    "Is the attention output (not the embedding) what you pool": {"pools_embedding_not_attention_output"},
    "loss.item() gives a Python float": {"training_returns_loss_tensors"},
}

GENERIC: tuple[str, ...] = (
    "Where do your values first differ from exp(x)",
    "Which sum do you divide each slice by?",
    "Where do your weights first differ from softmax(q kᵀ / √d_k)",
    "Which axes of q and k meet in q kᵀ",
    "Is the output your weights times v",
    "Which step of your computation runs below float64 precision",
    "Where does your mask first differ from True where key ≤ query",
    "What should a query that may see no key get",
    "For the first query whose weights differ, which keys does its mask let it see",
    "Shape (B, 1, max_len): True where position < length.",
    "With all-zero weights, what is the weighted sum of the values?",
    "Are query, key and value each nn.Linear(embed_dim, embed_dim), named exactly so?",
    "What must be true of embed_dim and num_heads?",
    "Take one query and the keys the mask lets it see",
    "Does anything in the model depend on where a token sits",
    "Which part of your model still sees the padded positions",
    "Does each epoch zero the gradients, call backward and take an optimizer step?",
)


def named_by(hint: str) -> list[str]:
    """The phrases of ``NAMING`` that ``hint`` holds."""
    return [phrase for phrase in NAMING if phrase in hint]


def is_generic(hint: str) -> bool:
    return any(question in hint for question in GENERIC)
