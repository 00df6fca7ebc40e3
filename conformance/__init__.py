"""runtimeclass-conformance: checks a cluster's RuntimeClass behaviour clause by clause."""
