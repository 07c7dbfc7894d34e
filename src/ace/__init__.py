"""ACE: Off-Policy Actor-Critic with Causality-Aware Entropy Regularization (ICML 2024).

Folders by job: ``agents/`` (ACE, SAC), ``envs/`` (the one env factory), ``runner.py`` (the
training loop every agent and task shares), ``causal.py`` (action->reward weights),
``dormancy.py`` (gradient dormancy and soft reset).
"""

__version__ = "0.1.0"
