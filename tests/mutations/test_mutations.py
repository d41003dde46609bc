"""Every deliberate bug of catalogue.py fails at least one fast test (harness.py, on a temporary copy
of the repository; the lab tests of each mutation run with `harness.py --lab`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogue import MUTATIONS, Mutation
from harness import REPO, MutationError, Outcome, apply, baseline, caught, copy_of_repository, try_mutation


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("mutations")


@pytest.fixture(scope="module")
def unmutated(scratch: Path) -> Outcome:
    return baseline(MUTATIONS, lab=False, scratch=scratch / "baseline")


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[mutation.name for mutation in MUTATIONS])
def test_the_mutation_is_caught(
    mutation: Mutation, unmutated: Outcome, scratch: Path, request: pytest.FixtureRequest
) -> None:
    outcome = try_mutation(mutation, scratch / request.node.callspec.id)["fast"]
    if outcome.all_skipped:
        pytest.skip(f"its tests skipped here: {outcome.output.strip().splitlines()[-1]}")
    assert caught(outcome), f"no test caught {mutation.name!r}; its tests passed:\n{outcome.output[-3000:]}"


def test_every_mutation_names_its_tests_and_changes_the_code() -> None:
    for mutation in MUTATIONS:
        assert mutation.fast_tests, mutation.name
        assert mutation.old != mutation.new, mutation.name
        assert (REPO / mutation.path).is_file() and mutation.path.startswith("lib/"), mutation.name
    assert len({mutation.name for mutation in MUTATIONS}) == len(MUTATIONS)


def test_a_snippet_that_is_not_in_the_code_is_refused(tmp_path: Path) -> None:
    tree = copy_of_repository(tmp_path)
    stale = Mutation("stale", "lib/nftables.nix", "no such line", "x", ("tests/nix/test_parse.py",))
    with pytest.raises(MutationError, match="occurs 0 times"):
        apply(stale, tree)


def test_the_real_tree_is_never_mutated(tmp_path: Path) -> None:
    before = {mutation.path: (REPO / mutation.path).read_text() for mutation in MUTATIONS}
    tree = copy_of_repository(tmp_path)
    for mutation in MUTATIONS:
        if mutation.path == "lib/nftables.nix":
            apply(mutation, tree)
            break
    assert {path: (REPO / path).read_text() for path in before} == before
    assert (tree / "lib/nftables.nix").read_text() != before["lib/nftables.nix"]


def test_a_mutation_no_test_notices_is_reported_as_not_caught(tmp_path: Path) -> None:
    harmless = Mutation(
        "a comment reworded",
        "lib/nftables.nix",
        "# The gateway's forward policy.",
        "# The forward policy of the gateway.",
        ("tests/nix/test_parse.py",),
    )
    outcome = try_mutation(harmless, tmp_path)["fast"]
    assert outcome.passed > 0 and not caught(outcome), outcome.output[-2000:]
