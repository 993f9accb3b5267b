"""The devel base: a build base with compilers and Python headers (runtime has neither)."""

from smoke.docker_helpers import built_image

IMAGE = "containers/base:devel"

HELLO = r"""
set -e
cd /tmp
printf '#include <Python.h>\nint main(){return PY_MAJOR_VERSION - 3;}\n' > t.c
cc $(python3.11-config --includes) t.c -o t
./t
echo c-ok
printf '#include <vector>\nint main(){std::vector<int> v{1}; return v[0]-1;}\n' > t.cpp
c++ t.cpp -o tpp
./tpp
echo cxx-ok
"""


def test_devel_base_compiles_c_against_python_and_cxx():
    out = built_image(IMAGE).run("bash", "-c", HELLO)
    assert out.split() == ["c-ok", "cxx-ok"], out
