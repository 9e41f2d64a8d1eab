"""Development tooling, not part of the product: the local stack, the synthetic
generator and the SNE simulator. Only the CLI and the tests import it."""
