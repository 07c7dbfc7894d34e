"""Result analysis from run folders alone (no wandb account needed)."""
