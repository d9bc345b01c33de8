"""The README's library examples run as written (the sweep example trains on Fashion-MNIST and is left out)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S) if "glth.generalize" in b]


def test_readme_has_library_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files (the ticket example does)
    if "torchvision" in code:
        pytest.importorskip("torchvision")
    namespace: dict = {}
    if "x_fit" in code:  # the speed example: continue it with a check of its comment
        code += "\nassert torch.allclose(loss, mlp(x_train[:60]).logsumexp(1).mean(), atol=1e-5)\n"
    exec(compile(code, str(README), "exec"), namespace)
    if "print(torch.allclose" in code:
        assert capsys.readouterr().out.strip().endswith("True")
