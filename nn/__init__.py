"""Neural networks built on chainrule's `autograd` engine."""
