"""Console pages (customer screen, agent home, manager dashboard): thin views on lifecycle selectors."""
