"""Does each hidden check catch the mistake it is built for, and let correct but unusual code through?

Fixture submissions hold only the module they change; ``overlay`` lays it over the reference:

* ``tests/submissions/mutants/<fault>/<module>.py``: the reference module with one mistake that learners
  and public code really make, named by that mistake. It must lose points in its own exercise, through
  the checks listed for it in ``EXPECTED_FAILURES``, with messages that say where.
* ``tests/submissions/unusual/<name>/<module>.py``: correct code written another way (einsum, loops over
  heads, float64 inside, an additive mask, mini-batches, a SPEC submodule also held under another
  name...). It must score full marks.

Every fixture is graded once, through the real sandboxed grader, by one module-scoped fixture. The
visible tests (``exercises/test_*.py``) of each graded exercise then run on every fixture too, all in one
pytest process (``tests/visible_runs.py``): none may fail where the grader gives full marks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks import checks_for
from grader.contract import MODULES
from grader.settings import Settings
from tests import hint_names, visible_runs
from tests.grading_helpers import SUBMISSIONS, changed_modules, failed_checks, grade_exercises, overlay

MUTANTS = SUBMISSIONS / "mutants"
UNUSUAL = SUBMISSIONS / "unusual"
# Exercises 4-7 import masking.py: a masking mistake is where a double penalty would show.
WHOLE_SUBMISSION_MUTANT = "nan_on_fully_masked_rows"
MAX_MESSAGE_LINES = 8

# Correct code the grader marks wrong today, reported to the lead; strict, so a fix shows up as XPASS here.
KNOWN_FALSE_FAILURES: dict[str, str] = {}

# fault -> the checks that must catch it (others may fail too). Every mutant folder is listed, and only those.
EXPECTED_FAILURES: dict[str, set[str]] = {
    # 1 softmax
    "softmax_without_max_subtraction": {"stable_for_large_entries"},
    "softmax_max_over_whole_array": {"stable_for_large_entries"},
    "softmax_ignores_axis": {"matches_reference_on_random_inputs", "slices_sum_to_one"},
    "softmax_nan_on_all_minus_inf_slice": {"all_minus_inf_slice_gives_zeros"},
    "softmax_subtracts_max_in_place": {"input_not_modified"},
    "softmax_returns_float64_for_float32": {"keeps_shape_and_dtype"},
    "softmax_sums_over_whole_array": {"matches_reference_on_random_inputs", "slices_sum_to_one"},
    # 2 attention
    "attention_without_scale": {"weights_match_reference", "matches_pytorch_scaled_dot_product_attention"},
    "scales_by_d_not_sqrt_d": {"weights_match_reference", "matches_pytorch_scaled_dot_product_attention"},
    "scales_by_sqrt_d_v": {"weights_match_reference"},
    "attention_d_k_from_keys_length": {"weights_match_reference"},
    "softmax_over_queries_not_keys": {"weights_match_reference", "weights_sum_to_one_over_keys"},
    "transposes_keys_with_dot_T": {"shapes_with_any_batch_dims"},
    "uses_bmm": {"shapes_with_any_batch_dims"},
    "returns_only_output": {"returns_output_and_weights"},
    "returns_weights_and_output_swapped": {"shapes_with_any_batch_dims"},
    "scales_q_in_place": {"inputs_not_modified"},
    # the lesson's torch.sqrt(torch.tensor(d_k, dtype=torch.float32)): float32 precision in float64 results
    "lesson_sqrt_of_float32_tensor": {"keeps_dtype_and_precision"},
    # 3 masking
    "only_mask_equal_one_attends": {"matches_reference_for_every_mask_form"},
    "mask_inverted": {
        "masked_keys_get_zero_weight",
        "matches_reference_for_every_mask_form",
        "causality_by_perturbation",
    },
    "fills_masked_scores_with_zero": {"masked_keys_get_zero_weight", "causality_by_perturbation"},
    "masks_weights_after_softmax": {"matches_reference_for_every_mask_form", "matches_pytorch_with_masks"},
    "nan_on_fully_masked_rows": {
        "fully_masked_row_gives_zero_weights_and_output",
        "fully_masked_row_has_finite_gradients",
    },
    "nan_to_num_after_additive_minus_inf_bias": {"fully_masked_row_has_finite_gradients"},
    "fills_masked_scores_with_minus_1e9": {"fully_masked_row_gives_zero_weights_and_output"},
    "fills_with_finfo_min_without_zeroing_rows": {"fully_masked_row_gives_zero_weights_and_output"},
    "inverts_callers_mask_in_place": {"inputs_and_mask_not_modified"},
    "causal_mask_upper_triangle": {"causal_mask_values"},
    "causal_mask_hides_the_diagonal": {"causal_mask_values"},
    "causal_mask_returns_float": {"causal_mask_values"},
    "causal_mask_with_extra_leading_axis": {"causal_mask_values"},
    "padding_mask_off_by_one": {"padding_mask_values"},
    "padding_mask_without_query_axis": {"padding_mask_values"},
    "padding_mask_ignores_max_len": {"padding_mask_values", "padding_mask_rejects_short_max_len"},
    "padding_mask_accepts_short_max_len": {"padding_mask_rejects_short_max_len"},
    # 4 self_attention
    "shares_one_projection_for_qkv": {"matches_reference_without_mask"},
    "self_attention_drops_mask": {"masks_match_the_module_on_cut_sequences", "fully_masked_rows_stay_finite"},
    "self_attention_returns_output_and_weights": {"output_shape"},
    # nn.Linear(E, E, bias=False): the biases find no place; the forward is judged on the weights that loaded
    "self_attention_projections_without_bias": {"has_query_key_value_projections"},
    # 5 multi_head
    # positions mixed: the masks then hide other positions' features, so the mask checks fail for real
    "splits_heads_with_view_not_transpose": {
        "matches_nn_multihead_attention",
        "causal_and_padding_masks_match_cut_sequences",
        "mask_applies_to_every_head",
    },
    "scales_by_sqrt_embed_dim": {"matches_nn_multihead_attention"},
    "no_out_proj": {"matches_nn_multihead_attention"},
    "accepts_heads_that_do_not_divide": {"rejects_heads_that_do_not_divide_embed_dim"},
    "ignores_bias_argument": {"has_four_projections", "matches_nn_multihead_attention"},
    "mask_not_broadcast_over_heads": {"mask_applies_to_every_head"},
    "merges_heads_in_wrong_order": {"matches_nn_multihead_attention"},
    # mask.unsqueeze(-3).unsqueeze(0): right for (L, L) masks, one axis too many for (B, 1 or L, L) ones
    "multi_head_mask_given_an_extra_axis": {
        "causal_and_padding_masks_match_cut_sequences",
        "mask_applies_to_every_head",
    },
    # merged.data[...] = heads: right values, but no gradient reaches x or the q/k/v projections
    "multi_head_merges_heads_through_data": {"gradients_match_finite_differences"},
    # 6 encoder
    "post_norm_normalises_sublayer_not_sum": {"post_norm_block_matches_transformer_encoder_layer"},
    "ignores_norm_first": {"pre_norm_block_matches_transformer_encoder_layer"},
    # x = norm1(x); x = x + attention(x): the residual carries the normalised x
    "pre_norm_residual_added_to_normed_input": {"pre_norm_block_matches_transformer_encoder_layer"},
    "no_residual_around_attention": {
        "post_norm_block_matches_transformer_encoder_layer",
        "pre_norm_block_matches_transformer_encoder_layer",
    },
    "dropout_active_in_eval_mode": {"dropout_only_in_training_mode"},
    "encoder_repeats_one_block": {
        "encoder_layers_have_their_own_weights",
        "encoder_runs_its_blocks_then_the_final_norm",
    },
    # self.norm1 = self.norm2 = nn.LayerNorm(E): one object under both SPEC names, loaded twice
    "norm1_and_norm2_one_layer_norm": {
        "block_has_the_spec_attributes",
        "post_norm_block_matches_transformer_encoder_layer",
        "pre_norm_block_matches_transformer_encoder_layer",
    },
    "pre_norm_encoder_skips_final_norm": {"encoder_runs_its_blocks_then_the_final_norm"},
    "gelu_instead_of_relu": {
        "post_norm_block_matches_transformer_encoder_layer",
        "pre_norm_block_matches_transformer_encoder_layer",
    },
    "pe_exponent_i_over_d_not_2i_over_d": {"positional_encoding_values"},
    "pe_sines_then_cosines": {"positional_encoding_values"},
    "pe_returns_float64": {"positional_encoding_values"},
    # 7 classifier
    "mean_pools_over_padding": {"amount_of_padding_does_not_change_logits"},
    "classifier_keys_not_masked": {"amount_of_padding_does_not_change_logits"},
    "pools_embedding_not_attention_output": {"learns_what_mean_pooling_cannot"},
    # poolers and positions that keep padding invariance and learn the task: the architecture checks
    "classifier_pools_first_token": {"reordering_real_tokens_does_not_change_logits"},
    "classifier_pools_last_real_token": {"reordering_real_tokens_does_not_change_logits"},
    "classifier_max_pools_real_positions": {"two_token_logits_lie_between_one_token_logits"},
    "classifier_sum_pools_real_positions": {
        "repeating_real_tokens_does_not_change_logits",
        "two_token_logits_lie_between_one_token_logits",
    },
    "classifier_adds_sinusoidal_positional_encoding": {
        "reordering_real_tokens_does_not_change_logits",
        "repeating_real_tokens_does_not_change_logits",
        "two_token_logits_lie_between_one_token_logits",
    },
    "classifier_adds_learned_positional_encoding": {
        "reordering_real_tokens_does_not_change_logits",
        "repeating_real_tokens_does_not_change_logits",
        "two_token_logits_lie_between_one_token_logits",
    },
    "training_without_optimizer_step": {
        "training_returns_one_float_loss_per_epoch",
        "learns_what_mean_pooling_cannot",
    },
    "training_without_zero_grad": {"training_returns_one_float_loss_per_epoch"},
    "training_returns_loss_tensors": {"training_returns_one_float_loss_per_epoch"},
    "training_returns_final_loss_only": {"training_returns_one_float_loss_per_epoch"},
}


def folders(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir() if path.is_dir() and any(path.glob("*.py")))


def only_module(folder: Path) -> str:
    (module,) = changed_modules(folder)
    return module


@pytest.fixture(scope="module")
def graded(tmp_path_factory, warm_runner) -> dict:
    """``{"mutants/<fault>" or "unusual/<name>": {module: ExerciseResult}}``: every fixture, graded once.

    Each fixture is graded in the exercise it changes only; ``WHOLE_SUBMISSION_MUTANT`` in all seven.
    """
    tmp = tmp_path_factory.mktemp("fixtures")
    jobs = []
    for root in (MUTANTS, UNUSUAL):
        for name in folders(root):
            folder = root / name
            modules = (
                list(MODULES)
                if (root, name) == (MUTANTS, WHOLE_SUBMISSION_MUTANT)
                else changed_modules(folder)
            )
            jobs.append((f"{root.name}/{name}", overlay(folder, tmp / root.name / name), modules))
    # Longest first, so the two workers finish together: the whole submission, then the training runs.
    jobs.sort(key=lambda job: (-len(job[2]), "classifier" not in job[2]))
    # The device checks run on the CPU here, so every fixture meets them too (tests/test_device_checks.py).
    return grade_exercises(jobs, Settings(cuda="cpu"), runner=warm_runner)


def describe_failures(result) -> str:
    return (
        "\n".join(f"  {c.name} [{c.status}]: {c.message}" for c in result.checks if c.status != "passed")
        or "  none"
    )


def test_expected_failures_table_lists_every_mutant_and_only_real_checks():
    """Is every mutant folder in the table, every table entry a folder, and every named check a real one?"""
    assert set(EXPECTED_FAILURES) == set(folders(MUTANTS)), (
        f"mutant folders without a table entry: {sorted(set(folders(MUTANTS)) - set(EXPECTED_FAILURES))}; "
        f"table entries without a folder: {sorted(set(EXPECTED_FAILURES) - set(folders(MUTANTS)))}"
    )
    for fault, expected in EXPECTED_FAILURES.items():
        module = only_module(MUTANTS / fault)
        unknown = expected - {check.name for check in checks_for(module)}
        assert not unknown, f"{fault}: {module} has no check named {sorted(unknown)}"


@pytest.mark.parametrize("fault", folders(MUTANTS))
def test_mutant_loses_points_in_its_own_exercise_only(graded, fault):
    """Does the mistake cost points through the checks built for it, with short messages that say where?"""
    assert fault in EXPECTED_FAILURES, (
        f"{fault}: add it to EXPECTED_FAILURES with the checks that must catch it"
    )
    module = only_module(MUTANTS / fault)
    result = graded[f"mutants/{fault}"][module]
    failing = set(failed_checks(result))
    assert result.score < result.max_score, f"{fault}: {module} scored full marks"
    missed = EXPECTED_FAILURES[fault] - failing
    assert not missed, f"{fault}: {sorted(missed)} passed; what failed:\n{describe_failures(result)}"
    for check in result.checks:
        if check.status == "passed":
            continue
        assert check.message.startswith((f"{module}.", f"{module}.py:")), (
            f"{fault}: {check.name} does not say where: {check.message!r}"
        )
        assert len(check.message.splitlines()) <= MAX_MESSAGE_LINES, (
            f"{fault}: {check.name} message is too long:\n{check.message}"
        )


def unusual_params() -> list:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FALSE_FAILURES[name]))
        if name in KNOWN_FALSE_FAILURES
        else name
        for name in folders(UNUSUAL)
    ]


@pytest.mark.parametrize("name", unusual_params())
def test_unusual_correct_implementation_scores_full_marks(graded, name):
    """Does correct code written another way keep every point, and pass the (pointless) device check too?"""
    for module, result in graded[f"unusual/{name}"].items():
        assert result.score == result.max_score and not failed_checks(result), (
            f"{name}: {module} {result.score}/{result.max_score}\n{describe_failures(result)}"
        )


def test_a_masking_mistake_costs_points_in_masking_only(graded):
    """Graded whole, does a masking mistake leave exercises 1-2 and 4-7 (importing masking) at full marks?"""
    results = graded[f"mutants/{WHOLE_SUBMISSION_MUTANT}"]
    assert list(results) == list(MODULES)
    assert results["masking"].score < results["masking"].max_score
    others = {
        module: f"{r.score}/{r.max_score}"
        for module, r in results.items()
        if module != "masking" and r.score != r.max_score
    }
    assert not others, f"{WHOLE_SUBMISSION_MUTANT} also cost points in {others}"


@pytest.fixture(scope="module")
def visible(graded, tmp_path_factory) -> dict:
    """``{fixture: {module: [visible failures]}}``: each graded exercise's visible tests on each fixture,
    and every visible test on the reference, in one pytest run."""
    jobs = [(name, SUBMISSIONS / name, list(results)) for name, results in graded.items()]
    jobs.append((visible_runs.REFERENCE, None, list(MODULES)))
    return visible_runs.run_visible(jobs, tmp_path_factory.mktemp("visible"))


def test_no_visible_test_fails_where_the_grader_gives_full_marks(graded, visible):
    """Does every exercise the grader gives full marks (unusual code, the other exercises of a whole
    submission, the reference) pass its visible tests? Prints the share of mutants they catch."""
    print("mutants the visible tests catch:\n" + visible_runs.catch_rate_table(visible))
    reference = [
        f"{m}: {f.test}: {f.message}" for m, fs in visible[visible_runs.REFERENCE].items() for f in fs
    ]
    assert not reference, "the reference fails visible tests:\n" + "\n".join(reference)
    found = visible_runs.disagreements(graded, visible)
    assert not found, "\n".join(found)


def test_every_visible_failure_reads_like_the_graders(visible):
    """Does each visible test that fails a fixture say where, expected and got (or what raised), and ask
    a hint?"""
    found = visible_runs.unreadable(visible)
    assert not found, "\n".join(found[:10])


def first_hint(result) -> tuple[str, str]:
    """``(check, hint)`` of the first check, in feedback order, that fails with a hint: what a learner reads
    first."""
    return next(((c.name, c.hint) for c in result.checks if c.status != "passed" and c.hint), ("", ""))


@pytest.mark.parametrize("fault", folders(MUTANTS))
def test_a_mutants_first_hint_names_its_own_mistake_or_none(graded, fault):
    """A hint that names a mistake the learner did not make sends them the wrong way: the first hint a
    mutant gets names its own mistake, or is a question that names none (``tests/hint_names.py``)."""
    check, hint = first_hint(graded[f"mutants/{fault}"][only_module(MUTANTS / fault)])
    named = hint_names.named_by(hint)
    others = [phrase for phrase in named if fault not in hint_names.NAMING[phrase]]
    assert not others, f"{fault}: {check}'s hint names another mistake ({others}): {hint!r}"
    assert named or not hint or hint_names.is_generic(hint), (
        f"{fault}: {check}'s hint is in neither list of tests/hint_names.py; place it: {hint!r}"
    )


def test_every_naming_hint_is_some_mutants_first_hint(graded):
    """Is each hint listed as naming a mistake still given to a mutant of that mistake (a list that no
    hint reaches any more would let a renamed hint through as generic)?"""
    given = {
        first_hint(graded[f"mutants/{fault}"][only_module(MUTANTS / fault)])[1] for fault in folders(MUTANTS)
    }
    unused = [phrase for phrase in hint_names.NAMING if not any(phrase in hint for hint in given)]
    assert not unused, f"no mutant's first hint holds {unused}"
