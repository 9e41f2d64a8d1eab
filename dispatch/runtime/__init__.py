"""The faust adapter: the only package of the product that imports faust."""
