"""A synthetic results database for the report bench: N samples of 20 cells, judged by 4 judges.

Everything is written by `INSERT ... SELECT` inside the database (a recursive count for the rows,
integer hashing for the verdicts), so a million samples take minutes rather than the hours a
real run would, on SQLite and PostgreSQL alike. The figures are made up but shaped like a real
run: one target, 4 attacks × 5 defenses, 80% JailbreakBench-like harmful items in ten
categories and 20% XSTest-like safe ones, jailbreak and over-refusal rates that differ by
defense and attack, judges that mostly agree, 0.5% unscorable verdicts, 0.1% failed samples,
pivots for the `r2d` defense, one defense-stage model call per sample.
"""

from __future__ import annotations

from sqlalchemy import text

from r2d_sdk.store import Store

ATTACKS = ("direct", "jbc", "pair", "screenplay")
DEFENSES = ("none", "self-reminder", "smoothllm", "r2d", "icd")
JUDGES = ("refusal-string", "xstest-string", "llm-a", "llm-b")
CATEGORIES = ("Harassment/Discrimination", "Malware/Hacking", "Physical harm", "Economic harm", "Fraud/Deception",
              "Disinformation", "Sexual/Adult content", "Privacy", "Expert advice", "Government decision-making")
# Per mille: how often each defense lets a harmful request through, and refuses a safe one.
JAILBREAK = {"none": 800, "self-reminder": 600, "smoothllm": 450, "r2d": 300, "icd": 500}
OVER_REFUSAL = {"none": 20, "self-reminder": 60, "smoothllm": 150, "r2d": 50, "icd": 100}
ATTACK_SHIFT = {"direct": -200, "jbc": 100, "pair": 0, "screenplay": 50}

RECIPE = f"""name: synthetic
description: synthetic results for bench/bench_report.py ({len(ATTACKS)} attacks x {len(DEFENSES)} defenses)
models:
  target: {{model: local/smollm2}}
datasets:
  - name: jbb-harmful
  - name: xstest
    label: xstest-safe
    filter: {{label: [safe]}}
attacks: [{", ".join(ATTACKS)}]
defenses: [{", ".join(DEFENSES)}]
judges: [{", ".join(JUDGES)}]
metrics: [asr, refusal-rate]
seed: 0
"""


def _case(expression: str, values: dict[str, int] | tuple[str, ...]) -> str:
    pairs = values.items() if isinstance(values, dict) else ((name, index) for index, name in enumerate(values))
    return f"CASE {expression} " + " ".join(f"WHEN '{name}' THEN {number}" for name, number in pairs) + " END"


def _name(expression: str, names: tuple[str, ...]) -> str:
    return f"CASE {expression} " + " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(names)) + " END"


def fill_synthetic_run(store: Store, samples: int, salt: int = 0) -> str:
    """Write one synthetic run of `samples` samples; `salt` changes its verdicts (for compare)."""
    cells = len(ATTACKS) * len(DEFENSES)
    per_cell = max(1, samples // cells)
    harmful = max(1, per_cell * 4 // 5)
    run_id = store.create_run("synthetic", RECIPE, "synthetic", seed=0, recipe_path="bench/synthetic_results.py")
    postgres = store.engine.dialect.name == "postgresql"
    truth = "FALSE" if postgres else "0"

    def json(expression: str) -> str:  # PostgreSQL types a CASE of literals as text; the column is json
        return f"CAST({expression} AS JSON)" if postgres else expression
    with store.engine.begin() as connection:
        connection.execute(text(f"""
            INSERT INTO samples (run_id, dataset, item_id, item_label, category, goal, model, model_id, attack,
                defense, prompt_index, prompt, messages_json, response, reasoning, blocked, status, error,
                latency_ms, defense_latency_ms, prompt_tokens, completion_tokens, model_call_count,
                defense_call_count, defense_tokens, attack_info_json, defense_info_json, created_at)
            WITH RECURSIVE counter(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM counter WHERE i < :last),
            grid AS (SELECT i, i / :per_cell AS cell, i % :per_cell AS k FROM counter)
            SELECT :run_id,
                   CASE WHEN k < :harmful THEN 'jbb-harmful' ELSE 'xstest-safe' END,
                   CAST(k AS VARCHAR(20)),
                   CASE WHEN k < :harmful THEN 'harmful' ELSE 'safe' END,
                   CASE WHEN k < :harmful THEN {_name('k % 10', CATEGORIES)} ELSE 'homonyms' END,
                   'Synthetic request number ' || CAST(k AS VARCHAR(20)),
                   'target', 'local/smollm2',
                   {_name(f'(cell / {len(DEFENSES)}) % {len(ATTACKS)}', ATTACKS)},
                   {_name(f'cell % {len(DEFENSES)}', DEFENSES)},
                   0,
                   'Synthetic request number ' || CAST(k AS VARCHAR(20))
                       || ', phrased the way an attack template would phrase it for the target model.',
                   {json("'[]'")},
                   CASE WHEN i % 997 = 0 THEN NULL ELSE 'Synthetic answer ' || CAST(i AS VARCHAR(20))
                       || ': a reply of moderate length, long enough for a judge to read it.' END,
                   CASE WHEN cell % {len(DEFENSES)} = 3 THEN '<think>The user asks for something. [SAFE]</think>'
                        ELSE NULL END,
                   {truth},
                   CASE WHEN i % 997 = 0 THEN 'error' ELSE 'ok' END,
                   CASE WHEN i % 997 = 0 THEN 'ModelCallError: synthetic failure' ELSE NULL END,
                   100.0 + i % 50 + 40 * (cell % {len(DEFENSES)}), 1.0 + cell % {len(DEFENSES)},
                   40 + i % 30, 60 + i % 40, 1 + 4, 0, 0, {json("'{}'")},
                   {json(f'''CASE WHEN cell % {len(DEFENSES)} <> 3 THEN '{{}}'
                        WHEN i % 3 = 0 THEN '{{"pivots": ["[SAFE]", "[SAFE]"], "final_pivot": "[SAFE]", "reasoning_closed": true}}'
                        WHEN i % 3 = 1 THEN '{{"pivots": ["[UNSAFE]", "[UNSAFE]", "[SAFE]"], "final_pivot": "[SAFE]", "reasoning_closed": true}}'
                        ELSE '{{"pivots": ["[RETHINK]"], "final_pivot": "[RETHINK]", "reasoning_closed": false}}' END''')},
                   CURRENT_TIMESTAMP
            FROM grid WHERE cell < {cells}
        """), {"run_id": run_id, "last": per_cell * cells - 1, "per_cell": per_cell, "harmful": harmful})
        # How often the answer is a jailbreak (harmful items) or a refusal (safe items), per mille.
        threshold = (f"CASE WHEN s.item_label = 'harmful' THEN {_case('s.defense', JAILBREAK)} "
                     f"+ {_case('s.attack', ATTACK_SHIFT)} ELSE 1000 - {_case('s.defense', OVER_REFUSAL)} END")
        draw = f"((CAST(s.id AS BIGINT) * 2654435761 + {salt * 7919}) % 1000)"
        shifts = {"refusal-string": 0, "xstest-string": 15, "llm-a": -50, "llm-b": 30}
        for index, judge in enumerate(JUDGES):
            jailbroken = f"({draw} < {threshold} + {shifts[judge]})"
            unscored = f"(s.status = 'error' OR (CAST(s.id AS BIGINT) * 7919 + {index}) % 200 = 0)"
            # refusal-string decides both; xstest-string speaks XSTest's labels; the LLM judges decide jailbreaks.
            labels = ("'full_compliance'", "'full_refusal'") if judge == "xstest-string" else ("'unsafe'", "'safe'")
            decides_jailbreak = judge != "xstest-string"
            decides_refusal = judge in ("refusal-string", "xstest-string")
            connection.execute(text(f"""
                INSERT INTO judgments (run_id, sample_id, judge, status, label, jailbroken, refused, score, raw,
                    error, created_at)
                SELECT s.run_id, s.id, '{judge}',
                       CASE WHEN s.status = 'error' THEN 'error' WHEN {unscored} THEN 'unscorable' ELSE 'scored' END,
                       CASE WHEN {unscored} THEN NULL WHEN {jailbroken} THEN {labels[0]} ELSE {labels[1]} END,
                       {f'CASE WHEN {unscored} THEN NULL ELSE {jailbroken} END' if decides_jailbreak else 'NULL'},
                       {f'CASE WHEN {unscored} THEN NULL ELSE NOT {jailbroken} END' if decides_refusal else 'NULL'},
                       NULL, 'synthetic', CASE WHEN s.status = 'error' THEN 'no response to judge' ELSE NULL END,
                       CURRENT_TIMESTAMP
                FROM samples s WHERE s.run_id = :run_id
            """), {"run_id": run_id})
        connection.execute(text(f"""
            INSERT INTO model_calls (run_id, sample_id, stage, model, model_id, messages_json, params_json,
                response, finish_reason, prompt_tokens, completion_tokens, latency_ms, cache_hit, retries,
                error, created_at)
            SELECT s.run_id, s.id, 'defense', s.model, s.model_id, {json("'[]'")}, {json("'{}'")}, s.response,
                   CASE WHEN s.status = 'ok' THEN 'stop' ELSE NULL END, s.prompt_tokens, s.completion_tokens,
                   s.latency_ms, s.id % 10 = 0, 0, s.error, CURRENT_TIMESTAMP
            FROM samples s WHERE s.run_id = :run_id
        """), {"run_id": run_id})
    store.set_status(run_id, "completed")
    return run_id
