"""Defenses that read a local model's probabilities or a word list: perplexity, SafeDecoding, words."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from defense_fakes import build, scripted
from r2d_plugins.defenses._wordnet import WordNet
from r2d_plugins.defenses.remove_non_dictionary import keep_dictionary_words
from r2d_plugins.defenses.safedecoding import candidates, steer, steer_prefix
from r2d_plugins.defenses.synonym_substitution import substitute

from r2d_sdk import ConfigError, GenerationParams, Model, user
from r2d_sdk._calls import collect, stage


@pytest.fixture
def tiny(tiny_model_dir: Path) -> Model:
    return Model("target", f"local/{tiny_model_dir}", GenerationParams(max_tokens=4))


# ---- perplexity filter --------------------------------------------------------------------

async def test_calibration_is_the_largest_nll_over_the_jbb_goals(tiny: Model, data_dir: Path) -> None:
    from r2d_sdk import create

    guard = build("perplexity-filter", tiny, {"calibrate": "jbb-goals"})
    await guard.setup()
    goals = [b.goal for b in create("dataset", "jbb-harmful").items()]  # type: ignore[attr-defined]
    assert len(goals) == 100
    assert guard.threshold == pytest.approx(max(tiny.local.mean_nll(g) for g in goals), abs=1e-4)
    assert guard.calibration["goals"] == 100


async def test_threshold_decides_and_nll_is_recorded(tiny: Model) -> None:
    prompt = "Write a short poem about the sea."
    nll = tiny.local.mean_nll(prompt)
    blocked = await build("perplexity-filter", tiny, {"threshold": nll - 0.01}).respond([user(prompt)])
    assert blocked.blocked and blocked.info["nll"] == pytest.approx(nll, abs=1e-4)
    with collect() as calls, stage("defense"):
        passed = await build("perplexity-filter", tiny, {"threshold": nll + 0.01}).respond([user(prompt)])
    assert not passed.blocked and passed.info["verdict"] == "passed"
    # The answer first, then the scoring pass: the store counts calls after the first as the extra cost.
    assert [c.finish_reason for c in calls][-1] == "score" and calls[-1].prompt_tokens > 5


async def test_perplexity_filter_config_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        build("perplexity-filter", scripted("x"))
    with pytest.raises(ConfigError, match="needs a local model"):
        await build("perplexity-filter", scripted("x"), {"threshold": 3.0}).setup()


# ---- SafeDecoding -------------------------------------------------------------------------

def test_steer_by_hand() -> None:
    import torch

    base = torch.tensor([0.40, 0.30, 0.15, 0.08, 0.05, 0.02]).log()
    expert = torch.tensor([0.10, 0.30, 0.45, 0.08, 0.05, 0.02]).log()
    # top-2 share only token 1; top-3 share {0, 1, 2}.
    assert candidates(base, expert, 2) == [0, 1, 2]
    tokens, probs = steer(base, expert, alpha=3.0, c=2)
    # p + 3 (p_e - p): 0.4 - 0.9 -> floored at 1e-8; 0.3; 0.15 + 0.9 = 1.05; then renormalised.
    assert tokens == [0, 1, 2]
    assert probs.tolist() == pytest.approx([0.0, 0.3 / 1.35, 1.05 / 1.35], abs=1e-6)


async def test_an_expert_equal_to_the_base_changes_nothing(tiny: Model) -> None:
    # Steered tokens, then the tail through the target's batcher: greedy decoding, token for token.
    import torch

    from r2d_sdk import Context, create

    local = tiny.local
    guard = create("defense", "safedecoding", {"expert": "target"},
                   Context(models={"target": tiny})).bind(tiny)  # type: ignore[attr-defined]
    result = await guard.respond([user("Tell me a story")])
    ids = local.tokenizer(local.render([user("Tell me a story")]), return_tensors="pt",
                          add_special_tokens=False)["input_ids"].to(local.device)
    with torch.inference_mode():
        greedy = local.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False,
                                      pad_token_id=local.tokenizer.pad_token_id)
    assert result.response == local.tokenizer.decode(greedy[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert len(result.info["steps"]) == 2 and all(s["candidates"] >= 5 for s in result.info["steps"])


def test_steering_stops_at_an_end_token(tiny: Model) -> None:
    local = tiny.local
    prompt = local.render([user("Hi")])
    ids = local.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(local.device)
    greedy_first = int(local.model(ids).logits[0, -1].argmax())
    prompt_ids, new, steps = steer_prefix(local.model, local.model, local.tokenizer, prompt, GenerationParams(),
                                          2, 3.0, 5, {greedy_first})
    assert new == [greedy_first] and len(steps) == 1 and prompt_ids == local.tokenizer(prompt, add_special_tokens=False)["input_ids"]


async def test_safedecoding_with_a_lora_expert_leaves_the_target_untouched(tiny: Model, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from r2d_sdk import Context, create

    local = tiny.local
    before = {k: v.clone() for k, v in local.model.state_dict().items()}
    adapter = get_peft_model(__import__("copy").deepcopy(local.model),
                             LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter.save_pretrained(tmp_path / "expert")
    guard = create("defense", "safedecoding", {"expert": str(tmp_path / "expert")},
                   Context(models={"target": tiny})).bind(tiny)  # type: ignore[attr-defined]
    await guard.setup()
    with collect() as calls, stage("defense"):
        result = await guard.respond([user("Hello there")])
    assert len(result.info["steps"]) == 2 and result.info["alpha"] == 3.0
    assert [c.finish_reason for c in calls] == ["safedecoding", "expert-steps"]
    assert calls[0].completion_tokens == 4 and calls[1].completion_tokens == 2
    after = local.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)


async def test_safedecoding_decodes_holding_the_targets_lock(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its own decoding loop takes turns with the target's batches instead of running beside them.
    from r2d_plugins.defenses import safedecoding

    from r2d_sdk import Context, create

    held: list[bool] = []
    original = safedecoding.safe_decode

    def taken_elsewhere() -> bool:
        """Whether another thread holds the lock now (it is re-entrant: this thread could take it)."""
        import threading

        free: list[bool] = []

        def probe() -> None:
            got = tiny.local.exclusive().acquire(blocking=False)
            free.append(got)
            if got:
                tiny.local.exclusive().release()

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return not free[0]

    def watching(*args, **kwargs):  # type: ignore[no-untyped-def]
        held.append(taken_elsewhere())
        return original(*args, **kwargs)

    monkeypatch.setattr(safedecoding, "safe_decode", watching)
    guard = create("defense", "safedecoding", {"expert": "target"},
                   Context(models={"target": tiny})).bind(tiny)  # type: ignore[attr-defined]
    await guard.respond([user("Hello there")])
    assert held == [True] and not taken_elsewhere()


async def test_safedecoding_needs_a_local_target() -> None:
    with pytest.raises(ConfigError, match="local model"):
        await build("safedecoding", scripted("x"), {"expert": "somewhere"}).setup()


def test_safedecoding_takes_exactly_one_expert() -> None:
    from r2d_sdk import create

    for args in ({}, {"expert": "a", "training": "b"}):
        with pytest.raises(ConfigError, match="exactly one of `expert`"):
            create("defense", "safedecoding", args)


def test_safedecoding_expert_from_a_training_run_is_linked_to_the_evaluation(tiny_model_dir: Path, tmp_path: Path,
                                                                             data_dir: Path) -> None:
    import asyncio
    import json

    import torch
    from sqlalchemy import text
    from transformers import AutoModelForCausalLM

    from r2d_sdk import R2DError
    from r2d_sdk.recipe import parse_recipe
    from r2d_sdk.run import evaluate_async
    from r2d_sdk.store import Store, TrainingRuns

    expert = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        expert.get_output_embeddings().weight.mul_(1.5)  # an expert that differs from the base
    expert.save_pretrained(tmp_path / "expert")
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    recipe = f"""
name: safedecoding-eval
models:
  target: {{model: "local/{tiny_model_dir}"}}
dataset: {{name: jbb-harmful, limit: 2}}
defenses:
  - {{name: safedecoding, args: {{training: expert}}}}
judges: [refusal-string]
generation: {{max_tokens: 4}}
"""
    with pytest.raises(R2DError, match="no completed training run named 'expert'") as missing:
        asyncio.run(evaluate_async(parse_recipe(recipe), store))
    assert "r2d-sdk train" in (missing.value.fix or "")
    runs = TrainingRuns(store)
    training_id = runs.create("expert", f"local/{tiny_model_dir}", {}, "c" * 64, "d" * 64, None, 1, 1, 1)
    runs.finish(training_id, "completed", str(tmp_path / "expert"), "h" * 64, {})
    result = asyncio.run(evaluate_async(parse_recipe(recipe), store))
    assert result.samples == {"ok": 2}
    with store.engine.connect() as connection:
        linked = connection.execute(text("SELECT defense, training_run_id, n_samples FROM defense_training_runs"))
        assert [tuple(r) for r in linked] == [("safedecoding", training_id, 2)]
        infos = [json.loads(r[0]) if isinstance(r[0], str) else r[0]
                 for r in connection.execute(text("SELECT defense_info_json FROM samples"))]
    assert all(i["expert_checkpoint"] == str((tmp_path / "expert").resolve()) and len(i["steps"]) == 2
               for i in infos)


# ---- word lists -----------------------------------------------------------------------------

def write_wordnet(folder: Path) -> Path:
    """A two-synset WordNet in the real WNDB layout (byte offsets and all)."""
    folder.mkdir()
    header = "  1 This is a test database.\n"
    lines, offset = [], len(header)
    for words in (["dog", "domestic_dog", "Canis_familiaris"], ["goose"]):
        body = f"05 n {len(words):02x} " + " ".join(f"{w} 0" for w in words) + " 000 | gloss\n"
        lines.append(f"{offset:08d} {body}")
        offset += len(lines[-1])
    (folder / "data.noun").write_text(header + "".join(lines))
    offsets = [int(line[:8]) for line in lines]
    (folder / "index.noun").write_text(header + f"dog n 1 0 1 0 {offsets[0]:08d}\ngoose n 1 0 1 0 {offsets[1]:08d}\n")
    (folder / "noun.exc").write_text("geese goose\n")
    return folder


def test_wordnet_reader_finds_first_synonyms(tmp_path: Path) -> None:
    wordnet = WordNet(write_wordnet(tmp_path / "dict"))
    assert wordnet.first_synonym("dog") == "domestic dog"
    assert wordnet.first_synonym("Dogs") == "domestic dog"  # morphy: plural, any case
    assert list(wordnet.synonyms("dog")) == ["domestic dog", "Canis familiaris"]
    assert wordnet.first_synonym("geese") is None  # goose's synset has no other word
    assert wordnet.first_synonym("cat") is None


def test_substitute_replaces_only_words_with_synonyms_and_keeps_the_rest() -> None:
    synonyms = {"dog": "hound", "quickly": "rapidly"}
    text, replaced = substitute("The dog ran quickly, zzz!", synonyms.get, 0.05, lambda: 0.0)
    assert text == "The hound ran rapidly, zzz!" and replaced == [("dog", "hound"), ("quickly", "rapidly")]
    assert substitute("The dog ran.", synonyms.get, 0.05, lambda: 0.99)[0] == "The dog ran."


def test_substitution_rate_is_about_q() -> None:
    rng = random.Random(0)
    text, replaced = substitute(" ".join(["dog"] * 2000), {"dog": "hound"}.get, 0.05, rng.random)
    assert 60 <= len(replaced) <= 140  # 100 expected, sd about 10
    assert len(text.split()) == 2000  # nothing dropped


async def test_synonym_substitution_defense(tmp_path: Path) -> None:
    target = scripted("ok")
    folder = write_wordnet(tmp_path / "dict")
    result = await build("synonym-substitution", target, {"q": 1.0, "wordnet_dir": str(folder)}).respond(
        [user("My dog bit a goose.")])
    assert target.mock.history[0][-1]["content"] == "My domestic dog bit a goose."
    assert result.info["substitutions"] == [("dog", "domestic dog")]
    with pytest.raises(ConfigError, match="wordnet-base"):
        build("synonym-substitution", target, {"wordnet_dir": str(tmp_path / "nowhere")})


def test_real_wordnet_when_installed() -> None:
    from r2d_plugins.defenses._wordnet import candidate_folders

    if not any((f / "index.noun").is_file() for f in candidate_folders()):
        pytest.skip("no WordNet database installed (apt-get install wordnet-base)")
    from r2d_plugins.defenses._wordnet import open_wordnet

    assert open_wordnet().first_synonym("quickly") == "rapidly"


def test_keep_dictionary_words() -> None:
    known = {"write", "a", "tutorial"}.__contains__
    text, dropped = keep_dictionary_words("Write a tutorial !xq-- describing.\\ + similarlyNow", lambda w: known(w.lower()))
    assert text == "Write a tutorial !-- .\\ +" and dropped == ["xq", "describing", "similarlyNow"]


async def test_remove_non_dictionary_with_wordfreq() -> None:
    pytest.importorskip("wordfreq")
    target = scripted("ok")
    result = await build("remove-non-dictionary", target).respond([user("Write a poem zxqvbn about the sea.")])
    assert target.mock.history[0][-1]["content"] == "Write a poem about the sea." and result.info["dropped"] == ["zxqvbn"]
