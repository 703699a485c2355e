import pytest

from backends.kernel.expressions import ExprError, evaluate, evaluate_c, names, resolve
from backends.model import Spec, Tunable, Variable


def spec(*variables: tuple[str, str], tunables: dict[str, list] | None = None) -> Spec:
    return Spec(buffers=[], variables=[Variable(n, e, i) for i, (n, e) in enumerate(variables)],
                launch=None, tunables=[Tunable(n, v) for n, v in (tunables or {}).items()])


@pytest.mark.parametrize("expr, value", [
    ("1 << 20", 1 << 20),
    ("cdiv(1000, 256)", 4),
    ("cdiv(1024, 256)", 4),
    ("roundup(1000, 256)", 1024),
    ("roundup(1024, 256)", 1024),
    ("0x100 + 1", 257),
    ("1e-3", 0.001),
    ("8 / 2", 4),
    ("7 / 2.0", 3.5),
    ("7 // 2", 3),
    ("-7 % 3", 2),
    ("min(3, 1, 2) + max(4, 5) + abs(-2)", 8),
    ("2 * (3 + 4)", 14),
    ("-(4)", -4),
    ("2 ** 10", 1024),
    ("1 << 62", 1 << 62),
])
def test_values(expr, value):
    assert evaluate(expr, {}) == value


def test_integer_division_is_exact_and_stays_int():
    v = evaluate("n / 4", {"n": 1024})
    assert v == 256 and isinstance(v, int)


def test_names_in_env():
    assert evaluate("cdiv(n, BLOCK) * BLOCK", {"n": 1000, "BLOCK": 128}) == 1024


@pytest.mark.parametrize("expr, fragment", [
    ("7 / 2", "write // or cdiv"),
    ("x + 1", "unknown name 'x'"),
    ("1 / 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("cdiv(4, 0)", "division by zero"),
    ("1 << 100000", "out of range"),
    ("1 << -1", "out of range"),
    ("(1 << 62) * 4", "too large"),
    ("2 ** 100000", "out of range"),
    ("2.0 ** 100000", "too large"),
    ("__import__('os')", "unknown function"),
    ("n.real", "not allowed"),
    ("'abc'", "only numbers"),
    ("[1, 2]", "not allowed"),
    ("1 if 1 else 2", "not allowed"),
    ("n == 1", "not allowed"),
    ("True", "only numbers"),
    ("cdiv(1)", "takes 2 arguments"),
    ("max()", "needs arguments"),
    ("1 +", "syntax error"),
    ("", "empty"),
    ("1e400", "not finite"),
    ("1.5 << 2", "needs integers"),
])
def test_errors(expr, fragment):
    with pytest.raises(ExprError) as e:
        evaluate(expr, {})
    assert fragment in str(e.value)


def test_names():
    assert names("cdiv(n, BLOCK) + min(M, 2) * n") == {"n", "BLOCK", "M"}
    assert names("42") == set()
    with pytest.raises(ExprError):
        names("n +* 2")


def test_c_constants():
    assert evaluate_c("256u") == 256
    assert evaluate_c("(1 << 8)") == 256
    assert evaluate_c("0.5f") == 0.5
    assert evaluate_c("7 / 2") == 3  # C division truncates
    assert evaluate_c("0x10UL") == 16


def test_resolve_any_order_with_tunables():
    s = spec(("blocks", "cdiv(n, BLOCK)"), ("n", "m * 2"), ("m", "1 << 10"), tunables={"BLOCK": [64, 128]})
    assert resolve(s, tunables={"BLOCK": 128}) == {"BLOCK": 128, "m": 1024, "n": 2048, "blocks": 16}
    assert resolve(s)["BLOCK"] == 64  # a missing tunable takes its first value


def test_resolve_overrides_replace_and_add():
    s = spec(("n", "1 << 20"), ("bytes_", "n * 4"))
    env = resolve(s, overrides={"n": "1000", "extra": "n + 1"})
    assert env["n"] == 1000 and env["bytes_"] == 4000 and env["extra"] == 1001


def test_resolve_cycle_names_the_cycle():
    s = spec(("a", "b + 1"), ("b", "c"), ("c", "a"), ("d", "1"))
    with pytest.raises(ExprError) as e:
        resolve(s)
    assert "a -> b -> c -> a" in str(e.value)
    assert e.value.variable == "a"


def test_resolve_unknown_name_names_the_variable():
    with pytest.raises(ExprError) as e:
        resolve(spec(("n", "1 << 20"), ("len", "n * K")))
    assert "variable 'len'" in str(e.value) and "'K'" in str(e.value)
    assert e.value.variable == "len"


def test_resolve_bad_value_names_the_variable():
    with pytest.raises(ExprError) as e:
        resolve(spec(("half", "n / 3"), ("n", "1000")))
    assert e.value.variable == "half" and "write // or cdiv" in str(e.value)
