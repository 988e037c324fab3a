"""The relations the plan's stages hand each other, named in one place.

build_plan makes one Relations for a run and gives each stage the relations it reads and
writes; it drops each as soon as nothing reads it. Every relation another module drops or
reads is a field here (the history's file, ledger and counts, the ranked candidates, ...);
only a stage's private scratch, made and dropped inside one function, is named after its
relation there (the opt-outs' `<optouts>_given`). `prefix` keeps the relations of two plans
in one connection apart.

>>> r = Relations.named("plan")
>>> (r.candidates, r.candidates_ranked, r.history_counts, r.plan)
('plan_candidates', 'plan_candidates_ranked', 'plan_history_counts', 'plan')
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Relations:
    matched: str  # features and rule matches of the customers some rule matches (candidates.matched_sql)
    events: str  # the orders immediate rules answer (triggers.events_query)
    zones: str  # the customer timezones that are zones (clock.valid_zones)
    clock: str  # instant and offset per (zone, local time) (clock.create_clock)
    optouts: str  # opt-outs from the file and the ledger (inputs.load_optouts)
    history: str  # messages sent before, for the caps (inputs.load_history)
    history_file: str  # the history file's rows under their customers' ids (inputs.load_history)
    history_ledger: str  # the ledger's delivered messages (inputs.load_history)
    history_counts: str  # the history's messages per customer and local day (arbitrate.history_query)
    ledger_done: str  # what the send ledger delivered (inputs.load_ledger_done)
    candidates_local: str  # every rule's sends with their local times (candidates.candidate_statements)
    candidates: str  # every possible send (candidates.build_candidates)
    candidates_ranked: str  # the eligible candidates in greedy order (arbitrate.ranked_statement)
    rules: str  # what each rule index stands for (build.create_rules_table)
    failed: str  # the sends that failed to render: cand_id, error_reason (build_plan)
    verdicts: str  # arbitration's outcome per candidate (arbitrate.arbitrate)
    decided: str  # every candidate with status and reason (build._decide)
    winners: str  # the send that took a capped candidate's slot (build._decide)
    to_render: str  # sends rendered in this round (render_jobs.render_sends)
    to_render_new: str  # those a render memo does not know (render_jobs.render_sends)
    to_render_input: str  # the rows rendered in this process, staged (render_jobs._render)
    rendered: str  # rendered messages and render errors (render_jobs)
    ordered: str  # the plan's rows numbered in order, without the messages (build.ordered_statement)
    rows: str  # the plan's rows in order, with the messages (build._assemble)
    plan: str  # the plan as delivery and output read it (a view over rows)

    def names(self) -> list[str]:
        """Every relation's name."""
        return [getattr(self, f.name) for f in fields(self)]

    @classmethod
    def named(cls, prefix: str = "plan") -> Relations:
        return cls(**{f.name: prefix if f.name == "plan" else f"{prefix}_{f.name}" for f in fields(cls)})
