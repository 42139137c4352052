"""The full project image (docker/Dockerfile.full) through a real hub and a real project
server on a Docker node: JupyterLab lists the SageMath and R kernels, which answer, the
Python kernel has the scientific stack, and a .tex file compiles to a PDF through the
jupyterlab-latex server extension as JupyterLab's "Show LaTeX Preview" calls it."""

import asyncio
import os
import time

import docker
import pytest

from .hubfixture import run_in_kernel
from .hubprocess import HubProcess

HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
FULL_IMAGE = os.environ.get("SMCHUB_TEST_FULL_IMAGE", "")
# the image's first build, going on beside the tests (tests/services/with-full-image.sh)
FULL_IMAGE_BUILD = os.environ.get("SMCHUB_TEST_FULL_IMAGE_BUILD", "")
BUILD_WAIT = 1800 if FULL_IMAGE_BUILD else 0
# this file's projects network, on TEST-NET-3: a /28 no other test uses
NETWORK, SUBNET = "smchub-test-full", "203.0.113.224/28"

pytestmark = [
    pytest.mark.timeout(300 + BUILD_WAIT),
    pytest.mark.runs_last,
    pytest.mark.skipif(
        not HOSTS or not FULL_IMAGE,
        reason="needs the full image on a test Docker Engine "
        "(tests/services/with-docker.sh tests/services/with-full-image.sh)",
    ),
]

# a document with a cross-reference (latexmk must run pdflatex twice) and packages of the
# image's TeX Live subsets: amsmath (base), TikZ (pictures, with latex-extra), siunitx (science)
DOCUMENT = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{tikz}
\usepackage{siunitx}
\begin{document}
\section{Sums}
\begin{equation}\label{eq:sum}
  \sum_{k=1}^{10} k = 55
\end{equation}
Equation~\eqref{eq:sum} needs a second run for its reference; \qty{55}{\metre}.
\begin{tikzpicture}\draw (0,0) circle (1);\end{tikzpicture}
\end{document}
"""


async def built():
    """Once the full image's build beside the tests has ended, whether it made the image."""
    if not FULL_IMAGE_BUILD:
        return
    status = os.path.join(FULL_IMAGE_BUILD, "status")
    deadline = time.monotonic() + BUILD_WAIT
    while not os.path.exists(status):
        if time.monotonic() > deadline:
            pytest.fail(f"the full image's build took over {BUILD_WAIT} s: {FULL_IMAGE_BUILD}/log")
        await asyncio.sleep(5)
    with open(status) as f:
        code = f.read().strip()
    if code != "0":
        with open(os.path.join(FULL_IMAGE_BUILD, "log")) as f:
            pytest.fail(f"the full image's build failed ({code}):\n{f.read()[-4000:]}")


@pytest.fixture
async def full_hub(hub_root):
    await built()
    node = {"name": "full", "backend": "docker", "url": HOSTS[0], "cpu": 2, "memory_mb": 3000,
            "options": {"image": FULL_IMAGE, "network": NETWORK,
                        "network_subnet": SUBNET}}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "docker-full"),
        f"c.SMCHub.compute_nodes = {[node]!r}\n"
        # Sage alone takes about 300 MB once started
        "c.SMCHub.default_quotas = {'memory_mb': 2000, 'cpu': 1.5}\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n",
    )
    engine = docker.DockerClient(base_url=HOSTS[0])
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        # the engines are the tests' own (with-docker.sh): every project on them is a test's
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        for network in engine.networks.list(names=[NETWORK]):
            network.remove()
        engine.close()


async def answer(person, project_id, kernel_name, code, timeout=90):
    """What a new kernel of `kernel_name` in the project shows for `code`: its printed
    output and the text/plain of its results, as a notebook cell would show them."""
    return await run_in_kernel(person, project_id, code, timeout, kernel_name, results=True)


async def put_text(person, project_id, path, text):
    r = await person.client.put(
        person.hub.project_url(project_id, f"api/contents/{path}"),
        json={"type": "file", "format": "text", "content": text},
    )
    assert r.status_code in (200, 201), r.text


async def test_sage_r_latex_in_the_full_image(full_hub):
    alice = await full_hub.person("alice")
    project = (await alice.create_project("Full"))["id"]
    await alice.start_project(project)

    # the kernels JupyterLab's launcher offers
    r = await alice.client.get(full_hub.project_url(project, "api/kernelspecs"))
    assert r.status_code == 200, r.text
    specs = r.json()["kernelspecs"]
    assert {"python3", "sagemath", "ir"} <= set(specs), sorted(specs)
    assert "SageMath" in specs["sagemath"]["spec"]["display_name"]
    assert specs["ir"]["spec"]["language"] == "R"

    # Sage, R and the Python kernel's scientific stack, each in its own kernel, at once
    sage, r_answer, python = await asyncio.gather(
        answer(alice, project, "sagemath", "factor(2^64-1)"),
        answer(alice, project, "ir", "sum(1:10)"),
        answer(alice, project, "python3",
               "import numpy, scipy, pandas, matplotlib, sympy\n"
               "print(int(numpy.arange(11).sum()), sympy.factorint(2**64 - 1))"),
    )  # fmt: skip
    assert sage.strip() == "3 * 5 * 17 * 257 * 641 * 65537 * 6700417", sage
    assert r_answer.strip() == "[1] 55", r_answer
    factors = "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}"
    assert python.strip() == f"55 {factors}", python

    # LaTeX: the call JupyterLab's preview makes, which runs latexmk (pdflatex as many
    # times as the references need) and leaves the PDF beside the source
    r = await alice.client.put(
        full_hub.project_url(project, "api/contents/paper"), json={"type": "directory"}
    )
    assert r.status_code == 201, r.text
    await put_text(alice, project, "paper/sums.tex", DOCUMENT)
    r = await alice.client.get(full_hub.project_url(project, "latex/build/paper/sums.tex"))
    assert r.status_code == 200, r.text
    assert r.text == "LaTeX compiled"
    r = await alice.client.get(full_hub.project_url(project, "files/paper/sums.pdf"))
    assert r.status_code == 200, r.status_code
    assert r.content.startswith(b"%PDF-"), r.content[:20]
    r = await alice.client.get(
        full_hub.project_url(project, "api/contents/paper/sums.log?type=file&format=text")
    )
    assert r.status_code == 200, r.text
    log = r.json()["content"]
    assert "Output written on sums.pdf (1 page" in log, log[-2000:]
    assert "undefined references" not in log, log[-2000:]  # latexmk ran pdflatex again

    # a document with an error: the preview gets LaTeX's message, not a PDF
    await put_text(alice, project, "broken.tex", DOCUMENT.replace(r"\end{document}", r"\oops"))
    r = await alice.client.get(full_hub.project_url(project, "latex/build/broken.tex"))
    assert r.status_code == 500, r.text
    assert "Undefined control sequence" in r.json()["errorOnlyMessage"], r.text

    # the preview's JupyterLab side is installed and enabled
    r = await alice.client.get(full_hub.project_url(project, "lab/api/extensions?per_page=100"))
    assert r.status_code == 200, r.text
    installed = {e["name"]: e for e in r.json()}
    assert installed["@jupyterlab/latex"]["enabled"], installed.get("@jupyterlab/latex")

    await alice.stop_project(project)
