"README.md must say what nbs/index.ipynb says (Quarto, and so `nbdev-readme`, cannot run on our CI machines)"
import json, re
from pathlib import Path
root = Path(__file__).parent.parent

def test_readme_has_index_text():
    nb = json.loads((root/'nbs/index.ipynb').read_text())
    readme = (root/'README.md').read_text()
    for c in nb['cells']:
        src = ''.join(c['source'])
        if src.startswith('#| hide'): continue
        assert src in readme, f"README.md lacks this part of nbs/index.ipynb:\n{src[:300]}"

def test_readme_opens_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", (root/'README.md').read_text(), re.S)
    assert 'pip install -e .' in blocks[0] and 'torch==' in blocks[0]
    assert 'nbdev-test' in blocks[1] and 'pytest' in blocks[1]

def test_readme_registry_count():
    "The registry's size that the README quotes is the registry's size"
    from registry import CASES
    n,k = len(CASES),len({type(c.make()).__name__ for c in CASES})
    assert f"({n} cases over {k} loss classes" in (root/'README.md').read_text(), (n, k)
