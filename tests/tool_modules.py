"""Import the scripts of ``tools/`` (not a package) as modules, for the tests."""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The scripts import one another by module name, as they do when run from tools/.
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))


def load_tool(name: str):
    """The module ``tools/<name>.py``, freshly executed."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
