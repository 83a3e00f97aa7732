"""The claims report's report.md: the verdicts table, the cost, a section per claim."""

from grpo.experiment.claims import SIGNS, SUMMARIES, Claim
from grpo.report._markdown import markdown_table
from grpo.report._stats import ALPHA, DETECTION_Z, POWER, RESAMPLES
from grpo.report.claims._compute import ClaimOutcome, SweepCost, arm_label, headline


def paper_comparison(claim: Claim, row) -> str:
    """The paper's effect beside the MDE (what an undecided verdict can still say), or why no
    effect of the paper is comparable."""
    if claim.paper_effect is None:
        return f"Paper's effect: none comparable in these units: {claim.paper_note}"
    against = "smaller than" if row.mde < claim.paper_effect else "NOT smaller than"
    return (f"Paper's effect: {claim.paper_effect:.3g} in these units ({claim.paper_note}); the MDE {row.mde:.3g} is"
            f" {against} it.")


def cost_lines(outcomes: list[ClaimOutcome], sweeps: dict[str, SweepCost], load: tuple | None) -> list[str]:
    """Per grid: its runs, the sweep's wall time in this invocation (or that it was reused) and
    its trials' summed wall time; then the whole set's."""
    grids: dict[str, list[ClaimOutcome]] = {}
    for outcome in outcomes:
        grids.setdefault(outcome.data.claim.grid, []).append(outcome)
    lines = ["## Cost", "", "| grid | claims | runs | sweep wall time here | trials' wall time summed | analysis |",
             "|---|---|---|---|---|---|"]
    for grid, members in grids.items():
        cost = sweeps.get(grid)
        swept = ("not swept by this command" if cost is None else
                 f"{cost.seconds:.0f} s ({cost.trained} trained, {cost.reused} reused)")
        lines.append(f"| `{grid}` | {', '.join(m.data.claim.name for m in members)} | {members[0].data.runs} | {swept} |"
                     f" {members[0].data.trial_seconds:.0f} s | {sum(m.seconds for m in members):.0f} s |")
    analysis = sum(outcome.seconds for outcome in outcomes)
    total = sum(cost.seconds for cost in sweeps.values()) + analysis
    lines += ["", f"The whole set: {total:.0f} s ({total / 60:.1f} min) of wall time in this command"
              f" ({sum(cost.seconds for cost in sweeps.values()):.0f} s sweeping, {analysis:.0f} s reading, measuring and"
              " drawing)" + (f"; the machine's 1-minute load average {load[0]:.1f} at the start and {load[1]:.1f} after the"
                            " sweeps (2 cores shared with other work)" if load else "") + ".", ""]
    return lines


def report_markdown(outcomes: list[ClaimOutcome], not_run: dict[str, str], sweeps: dict[str, SweepCost] | None = None,
                    load: tuple | None = None) -> str:
    measured = sum(outcome.verdict != "not measured" for outcome in outcomes)
    lines = ["# Claims of the literature on the testbed: the canaries and the RLVR-shaped regime", "",
             "Each claim is a paired contrast over seeds (both arms from the same initial weights and random stream):"
             " per seed, treatment minus baseline, averaged over the grid's other cells, with its 95% paired"
             f" bootstrap interval ({RESAMPLES:,} resamples) and the p of its difference over the bootstrap standard"
             f" error. One Holm family: the {measured} claims of this report with a number (`p_holm`). Verdicts: *replicates* /"
             f" *contradicted* where p_holm < {ALPHA:.2f}, on / against the predicted side; otherwise *regime failed*"
             " where the arms did not differ in the claim's mechanism by its declared minimum difference (the"
             " mechanism had no room: the claim was not tested); *tied* where two one-sided tests bound the difference"
             " within ±MDE (its margin); *non-inferior* where the one-sided test bounds it above −MDE on the predicted"
             " side (not equal: it may be larger); else *undecided*; *not measured* where the contrast has no number"
             " (a fit that is not identified: no p, outside the family). A claim that predicts no difference (an"
             " asymptote that does not move) is *contradicted* where p_holm < 0.05 and supported only by *tied*. A"
             " *measured* claim's two values per seed are measured on rollouts by its mechanism measure (the section"
             " says what each is). MDE: the minimum detectable effect,"
             f" (z_.975 + z_.8) · sd_paired / √n = {DETECTION_Z:.2f} · sd / √n (power {POWER:.0%}, level"
             " 5% two-sided): a true difference that large is found 80% of the time. The evaluation seeds are the"
             " grids' own (0 to n-1); the pilots that chose the regimes and the seed counts ran on seeds 1000 and up,"
             " never evaluated here.", "",
             "| claim | verdict | difference [95% interval] | p | p_holm | seeds | MDE | mechanism (declared minimum"
             " difference) |", "|---|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        row = headline(outcome.table)
        numbers = (f"{row.difference:+.3g} [{row.low:+.3g}, {row.high:+.3g}] | {row.p:.2g} | {outcome.p_holm:.2g} |"
                   f" {row.pairs} | {row.mde:.3g}" if outcome.verdict != "not measured" else "– | – | – | – | –")
        lines.append(f"| [{outcome.data.claim.name}](#{outcome.data.claim.name}) | **{outcome.verdict}** | {numbers} |"
                     f" {outcome.measurement.short}{_regime(outcome)} |")
    lines += [f"| {name} | not run | – | – | – | – | – | {why} |" for name, why in not_run.items()]
    lines.append("")
    lines += cost_lines(outcomes, sweeps or {}, load)
    for outcome in outcomes:
        lines += claim_section(outcome)
    return "\n".join(lines)


def _regime(outcome: ClaimOutcome) -> str:
    """` (minimum difference 0.05: met)` beside a mechanism, or '' where no minimum is declared."""
    minimum = outcome.data.claim.mechanism.minimum_difference
    if minimum is None:
        return ""
    state = {True: "met", False: "NOT met: regime failed", None: "not measured"}[outcome.regime_held]
    return f" (minimum difference {minimum:g}: {state})"


def contrast_line(outcome: ClaimOutcome, held: str) -> str:
    """What the claim contrasts: its metric and summary and its arms, or a measured claim's two values."""
    claim, measurement = outcome.data.claim, outcome.measurement
    if claim.summary == "measured" and measurement.arms:
        return (f"Contrast, per seed ({SUMMARIES['measured']}; on the configuration [{arm_label(claim, 'treatment')}]):"
                f" [{measurement.arms[0]}] minus [{measurement.arms[1]}]; predicted {SIGNS[claim.predicted]}.")
    at = (f" at {outcome.data.budget:,.0f} responses sampled" if claim.summary == "samples" else
          f"; {outcome.data.unfitted} seed(s) without a leave-one-out fit" if claim.summary == "asymptote" else "")
    return (f"Contrast: `{claim.metric}` ({SUMMARIES[claim.summary]}){at}, [{arm_label(claim, 'treatment')}] minus"
            f" [{arm_label(claim, 'baseline')}]{held}; predicted {SIGNS[claim.predicted]}.")


def claim_section(outcome: ClaimOutcome) -> list[str]:
    data, claim = outcome.data, outcome.data.claim
    row = headline(outcome.table)
    held = f", holding {', '.join(f'{k} {v}' for k, v in claim.held.items())}" if claim.held else ""
    lines = [f'<a id="{claim.name}"></a>', f"## {claim.name}: {claim.statement}", "", f"Source: {claim.citation}.", ""]
    if data.gaps:
        lines += ["**INCOMPLETE**: " + ", ".join(f"{count} run(s) {status}" for status, count in sorted(data.gaps.items()))
                  + " of the grid: no verdict (a cell may lack an arm); the numbers below pair only the seeds finished"
                  " in both arms.", ""]
    lines += [f"Grid `{claim.grid}` ({data.runs} runs; its trials took {data.trial_seconds:.0f} s summed): "
              + ", ".join(f"{name} {value}" for name, value in data.shared.items()) + ".", "",
              contrast_line(outcome, held), "",
              f"**{outcome.verdict}**: {row.difference:+.4g} [{row.low:+.4g}, {row.high:+.4g}] over {row.pairs} seeds"
              f" (treatment {row.treatment:.4g}, baseline {row.baseline:.4g}); sd of the paired differences"
              f" {row.sd:.3g}, MDE {row.mde:.3g}; p {row.p:.3g}, Holm-adjusted over the report's claims"
              f" {outcome.p_holm:.3g}." if outcome.verdict != "not measured" else
              "**not measured**: the contrast has no number on these runs (the mechanism below says why), so the"
              " claim has no p and stays out of the Holm family."]
    lines += ["", paper_comparison(claim, row)]
    lines += ["", f"Mechanism ({claim.mechanism.description}): {outcome.measurement.text}{_regime(outcome)}.", ""]
    if len(outcome.table) > 1:
        table = outcome.table[["cell", "treatment", "baseline", "difference", "low", "high", "pairs", "mde"]]
        lines += [markdown_table(table.rename(columns={"low": "95% low", "high": "95% high", "pairs": "seeds",
                                                       "mde": "MDE"})), ""]
    lines += [f"![{claim.name}]({outcome.figure})", ""]
    return lines
