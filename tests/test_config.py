"""Preset validation: every key with good and bad values, the messages a user
reads, --set overrides, and malformed presets from hypothesis (each one loads
or fails with PresetError, never another exception)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trainer.config import (
    SECTIONS,
    TOP_LEVEL,
    Preset,
    from_dict,
    load_preset,
    loads_preset,
    to_dict,
    to_toml,
)
from tui_trainer.datasets import load_dataset
from tui_trainer.errors import DataError, PresetError, UserError
from tui_trainer.usertext import one_line

INF, NAN = math.inf, math.nan

# key -> (values that load, values that must be refused). Every key of the
# schema is here; test_every_key_is_covered fails when a new key is not.
CASES: dict[str, tuple[list, list]] = {
    "name": (["my-run", ""], [3, ["x"]]),
    "description": (["what it teaches"], [1.5, {"a": 1}]),
    "data.dataset": (["mnist-5k", "digits", "spiral"], ["imagenet", "MNIST", 3, ""]),
    "data.path": (["", "data/x.npz"], [3, ["a"]]),
    "data.num_train": ([1, 4000], [0, -1, 1.5, "10", True]),
    "data.num_val": ([1, 500], [0, 2.0]),
    "data.num_test": ([0, 500], [-1, "x"]),
    "data.preprocess": (
        [[], ["mean"], ["mean", "std"], ["pca:10"], ["mean", "whiten"], ["pca:20", "whiten"]],
        [["median"], "mean", ["pca:0"], ["pca:x"], ["pca:"], ["whiten", "mean"], [1], ["pca:3", "pca:2"]],
    ),
    "data.seed": ([0, 7], [-1, 0.5]),
    "data.classes": ([2, 5], [1, 0, 2.5]),
    "data.noise": ([0, 0.3], [-0.1, "x", INF, NAN]),
    "model.hidden": ([[], [50], [100, 50]], [[0], [-3], 50, [1.5], [True], "50"]),
    "model.loss": (["softmax", "svm"], ["hinge", 1]),
    "model.init": (["gaussian", "xavier", "he"], ["zeros", None]),
    "model.init_std": ([1e-4, 1, 2], [0, -1e-3, NAN, "1e-4"]),
    "model.dtype": (["float32", "float64"], ["float16", "int"]),
    "train.update": (["sgd", "momentum", "nesterov", "rmsprop", "adam"], ["adagrad", "SGD", 0]),
    "train.learning_rate": ([1e-6, 1, 3], [0, -1e-3, "1e-3", INF, NAN, True]),
    "train.momentum": ([0, 0.9, 0.99], [1, 1.5, -0.1]),
    "train.learning_rate_decay": ([1, 0.5], [0, 1.01, -0.5]),
    "train.reg": ([0, 1e-3, 10], [-1e-3, INF]),
    "train.batch_size": ([1, 200], [0, -5, 1.0]),
    "train.epochs": ([1, 50], [0, 2.5]),
    "train.sample_batches": ([True, False], [1, "true", 0]),
    "train.explode_factor": ([1.5, 3], [1, 0.5]),
    "train.stats_every": ([1, 10], [0]),
    "train.seed": ([0, 123], [-1]),
    "train.device": (["cpu", "gpu", "auto"], ["cuda", "GPU", "", 1]),
    "search.learning_rate": ([[1e-6, 1e-1]], [[1e-1, 1e-6], [0, 1], [1e-3], [1e-3, 1e-2, 1e-1], "x", [1e-3, INF]]),
    "search.reg": ([[1e-5, 10]], [[-1, 1], [1, 1]]),
    "search.hidden": ([[], [50, 100]], [[0], [50.5]]),
    "search.batch_size": ([[], [100, 200]], [[0], 100]),
    "search.stages": (
        [[{"trials": 3, "epochs": 1}], [{"trials": 30, "epochs": 1}, {"trials": 10, "epochs": 5}]],
        [[], [{"trials": 0}], [{"trails": 3}], [3], {"trials": 3}, [{"epochs": 1.5}]],
    ),
    "search.keep": ([1, 5], [0]),
    "search.seed": ([0], [-1]),
    "search.leader_seeds": ([0, 3], [-1, 2.5]),
    "tune.coarse_trials": ([1, 16], [0, 2.5]),
    "tune.coarse_epochs": ([1, 2], [0]),
    "tune.fine_trials": ([1, 8], [0, "8"]),
    "tune.fine_epochs": ([1, 4], [0]),
    "tune.final_epochs": ([1, 10], [0, True]),
    "tune.final_candidates": ([1, 5], [0, -1, 1.5]),
    "tune.leader_seeds": ([0, 3], [-1, 2.5]),
}


def _escape(c: str) -> str:
    """TOML's escape: \\uXXXX in the basic plane, \\UXXXXXXXX beyond it (four digits would split it)."""
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def toml_value(v) -> str:
    """A TOML literal for a test value (the tests' own writer, not the one under test)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == INF else "-inf" if v == -INF else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else _escape(c) for c in v) + '"'
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def doc_with(key: str, value) -> str:
    """A preset text that sets one dotted key (top-level keys come first, as TOML needs)."""
    if "." not in key:
        return f"{key} = {toml_value(value)}\n"
    section, name = key.split(".")
    return f"[{section}]\n{name} = {toml_value(value)}\n"


def schema_keys() -> list[str]:
    """Every key a preset file may hold (a searched key's range is a key of [search])."""
    sections = to_dict(Preset())
    return list(TOP_LEVEL) + [f"{s}.{name}" for s in SECTIONS for name in sections[s]]


def get(p: Preset, key: str):
    if "." not in key:
        return getattr(p, key)
    section, name = key.split(".")
    return to_dict(p)[section][name]


def test_every_key_is_covered():
    assert sorted(CASES) == sorted(schema_keys())


GOOD = [(k, v) for k, (good, _) in CASES.items() for v in good]
BAD = [(k, v) for k, (_, bad) in CASES.items() for v in bad if v is not None]


@pytest.mark.parametrize("key,value", GOOD, ids=[f"{k}={v!r}" for k, v in GOOD])
def test_good_value_loads_from_a_file_and_from_set(key, value):
    p = loads_preset(doc_with(key, value), source="mine.toml")
    assert get(p, key) == value
    q = load_preset("default", [f"{key}={toml_value(value)}"])
    assert get(q, key) == value


@pytest.mark.parametrize("key,value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_bad_value_is_refused_naming_file_key_and_what_is_allowed(key, value):
    with pytest.raises(PresetError) as e:
        loads_preset(doc_with(key, value), source="mine.toml")
    msg = str(e.value)
    assert msg.startswith(f"mine.toml: {key}"), msg
    assert "\n" not in msg
    assert "expected" in msg or "must" in msg or "at most" in msg or "unknown key" in msg

    with pytest.raises(PresetError) as e:
        load_preset("default", [f"{key}={toml_value(value)}"])
    assert str(e.value).startswith(f"--set {key}"), str(e.value)


@pytest.mark.parametrize(
    "text,key,suggestion",
    [
        ("[train]\nlearnig_rate = 1e-3\n", "train.learnig_rate", "train.learning_rate"),
        ("[train]\nhidden = [50]\n", "train.hidden", "model.hidden"),
        ("[trian]\nreg = 1.0\n", "trian", "train"),
        ("learning_rate = 1e-3\n", "learning_rate", "train.learning_rate"),
        ("[train]\nlr = 1e-3\n", "train.lr", "train.learning_rate"),
        ("[model]\nhiden = [50]\n", "model.hiden", "model.hidden"),
        ("[search]\nstages = [{ trails = 3 }]\n", "search.stages[0].trails", "search.stages[0].trials"),
    ],
)
def test_unknown_key_names_it_and_suggests_the_closest(text, key, suggestion):
    with pytest.raises(PresetError) as e:
        loads_preset(text, source="mine.toml")
    assert str(e.value) == f"mine.toml: {key}: unknown key; did you mean {suggestion!r}?"


def test_unknown_key_without_a_close_one_lists_what_is_allowed():
    with pytest.raises(PresetError) as e:
        loads_preset("[train]\nzzzzzz = 1\n", source="mine.toml")
    assert str(e.value).startswith("mine.toml: train.zzzzzz: unknown key; allowed here: update, learning_rate,")


@pytest.mark.parametrize(
    "item,message",
    [
        ("train.lr=1", "--set train.lr: unknown key; did you mean 'train.learning_rate'?"),
        ("trian.reg=1", "--set trian.reg: unknown key; did you mean 'train.reg'?"),
        ("train.reg.x=1", "--set train.reg.x: unknown key; keys have two parts, SECTION.KEY, e.g. train.learning_rate"),
        ("train.learning_rate", "--set 'train.learning_rate': expected KEY=VALUE, e.g. --set train.learning_rate=1e-4"),
        ("train.epochs=1.5", "--set train.epochs: expected an integer, got 1.5"),
    ],
)
def test_set_errors_name_the_override(item, message):
    with pytest.raises(PresetError) as e:
        load_preset("default", [item])
    assert str(e.value) == message


def test_set_reads_toml_values_and_bare_words():
    p = load_preset(
        "default",
        [
            "model.hidden=[100, 50]",
            "data.dataset=digits",
            "train.sample_batches=false",
            "train.learning_rate=1e-4",
            "data.num_train=1000",
        ],
    )
    assert p.model.hidden == (100, 50) and p.data.dataset == "digits"
    assert p.train.sample_batches is False and p.train.learning_rate == 1e-4
    assert p.source.endswith("default.toml")  # data errors later still name the preset file


def test_set_can_supply_what_the_file_lacks():
    text = '[data]\ndataset = "npz"\n'
    with pytest.raises(PresetError, match=r"mine.toml: data.path: the 'npz' data set needs a path"):
        loads_preset(text, source="mine.toml")
    assert loads_preset(text, source="mine.toml", overrides=["data.path=x.npz"]).data.path == "x.npz"


def test_cifar10_without_a_path_is_read_from_the_fetch_folder_and_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_TRAINER_DATA_DIR", str(tmp_path))
    p = loads_preset('[data]\ndataset = "cifar10"\n', source="mine.toml")
    assert p.data.path == ""
    with pytest.raises(DataError, match=r"mine.toml: data.path: not set.*tui-trainer data fetch cifar10") as e:
        load_dataset(p.data, source=p.source)
    assert str(tmp_path) in str(e.value)


def test_not_toml_and_missing_files_are_preset_errors(tmp_path):
    with pytest.raises(PresetError, match=r"^mine.toml: not valid TOML: .*line 1"):
        loads_preset("[train\n", source="mine.toml")
    with pytest.raises(PresetError, match="no such preset file"):
        load_preset(tmp_path / "nope.toml")
    with pytest.raises(PresetError, match=r"unknown preset 'defualt'; did you mean 'default'\? Shipped presets: "):
        load_preset("defualt")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(PresetError, match="cannot read preset"):
        load_preset(bad)


def test_a_file_without_a_name_is_named_after_the_file(tmp_path):
    path = tmp_path / "my-experiment.toml"
    path.write_text("[train]\nepochs = 2\n")
    assert load_preset(path).name == "my-experiment"
    assert load_preset(path, ["name=other"]).name == "other"


def test_replace_validates():
    p = load_preset("default")
    assert p.replace(**{"train.reg": 0.0}).train.reg == 0.0
    with pytest.raises(PresetError):
        p.replace(**{"train.reg": -1.0})


# --- hypothesis: malformed presets --------------------------------------------------

KNOWN_WORDS = (
    schema_keys()
    + [k.split(".")[-1] for k in schema_keys()]
    + list(SECTIONS)
    + [
        "trian",
        "lr",
        "hiden",
        "stages",
        "trials",
        "epochs",
        "pca:3",
        "mean",
        "whiten",
        "digits",
        "sgd",
    ]
)
keys = st.one_of(st.sampled_from(KNOWN_WORDS), st.text(max_size=10))
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "mean",
            "std",
            "pca:5",
            "pca:0",
            "whiten",
            "digits",
            "spiral",
            "cifar10",
            "npz",
            "sgd",
            "adam",
            "softmax",
            "svm",
            "he",
            "float64",
        ]
    ),
    st.datetimes(min_value=dt.datetime(1000, 1, 1)),
    st.dates(min_value=dt.date(1000, 1, 1)),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=3), max_leaves=8
)
section_tables = st.dictionaries(keys, values, max_size=6)
documents = st.fixed_dictionaries(
    {},
    optional={
        "name": values,
        "description": values,
        "data": section_tables,
        "model": section_tables,
        "train": section_tables,
        "search": section_tables,
    },
).flatmap(lambda d: st.dictionaries(keys, values, max_size=2).map(lambda extra: {**extra, **d}))


def to_text(doc: dict) -> str:
    """Scalars first, then each table as [section] (a non-table section stays a plain key)."""
    lines, tables = [], []
    for k, v in doc.items():
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in lines]
    for k, table in tables:
        out.append(f"[{toml_value(str(k))}]")
        out += [f"{toml_value(str(n))} = {toml_value(x)}" for n, x in table.items()]
    return "\n".join(out) + "\n"


def loads_or_preset_error(text: str, overrides=()) -> Preset | None:
    try:
        return loads_preset(text, source="gen.toml", overrides=overrides)
    except PresetError as e:
        assert str(e).strip() and "\n" not in str(e), repr(str(e))
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_generated_documents_load_or_fail_cleanly(doc):
    p = loads_or_preset_error(to_text(doc))
    if p is not None:  # what loads, writes back the same
        assert loads_preset(to_toml(p), source="again.toml") == p


def _as_float(value):
    """A number key, or a list of numbers, as the preset stores it: ints become floats (2**53 + 1 rounds)."""
    if isinstance(value, list):
        return [_as_float(v) for v in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(schema_keys()), values, min_size=1, max_size=4))
def test_random_values_for_known_keys_load_or_fail_cleanly(assignments):
    doc: dict = {}
    for key, value in assignments.items():
        if "." in key:
            section, name = key.split(".")
            doc.setdefault(section, {})[name] = value
        else:
            doc[key] = value
    p = loads_or_preset_error(to_text(doc))
    if p is not None:
        for key, value in assignments.items():
            got = get(p, key)
            if key == "search.stages":  # a stage table holds only what it changes; the rest are defaults
                assert len(got) == len(value)
                assert all(g[k] == v for g, stage in zip(got, value) for k, v in stage.items()), (value, got)
                continue
            assert got == value or got == _as_float(value), (key, value, got)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_loads_or_fails_cleanly(text):
    loads_or_preset_error(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.builds(
                lambda k, v: f"{k}={toml_value(v)}",
                st.sampled_from(schema_keys() + ["train.lr", "x.y.z", "lr"]),
                values,
            ),
        ),
        max_size=3,
    )
)
def test_random_overrides_load_or_fail_cleanly(items):
    loads_or_preset_error("", overrides=items)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, st.one_of(values, st.none(), st.builds(object)), max_size=4))
def test_from_dict_with_any_python_values_is_clean(raw):
    try:
        from_dict(raw, "gen")
    except PresetError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_descriptions_with_any_characters_round_trip(text):
    # A name is plain text on one line (tests/test_user_text.py refuses the rest).
    name = one_line(text)
    p = loads_preset("", source="x").replace(description=text, name=name)
    assert loads_preset(to_toml(p)) == p


def test_preset_error_is_a_user_error():
    assert issubclass(PresetError, UserError)  # the CLI turns it into exit status 2
