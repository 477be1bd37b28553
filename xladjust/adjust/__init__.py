"""The adjustment itself: tokenised aligned pairs, their collator, word pooling, the objective, continual learning."""
