"""One module per conformance fixture folder: ``run(case) -> {output name: tensor}``."""
