"""reetrace: product-flow traceability store for rare earths."""
