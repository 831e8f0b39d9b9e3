"""The LoRA paper's published tables as CSV (README.md here): package data, installed as ``adaptbench.paper_tables``
(``adaptbench table --compare paper`` reads them through ``adaptbench.harness.paper``)."""
