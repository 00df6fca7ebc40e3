"""The shared cluster toolbox: what every provider that builds nodes uses, with public names.

Binaries built and cached by version (`binaries`), node and test images (`images`), the OCI
runtimes a CRI can run and their configs (`runtimes`), host facts (`host`), reading topology
files and their shared records (`topology_file`, `topology_records`), upstream Kubernetes'
source (`kubernetes_source`: pause.c), the one error type (`errors`) and how a provider's
command line turns it into an exit code (`command_line`). The local and kind
providers (clusters/local/, clusters/kind/) both build on it; each keeps only what is its own
(local: host processes, its CRI configs, PKI; kind: the engine, node image, kind config).
Nothing here imports a provider (tests/test_layers.py checks it).
"""
