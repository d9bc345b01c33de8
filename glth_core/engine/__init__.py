"""Layer 3, the experiment engine: hyperparameters and run identity, models, training, lottery
rounds, random subspaces, inference. Imports the core, the data and storage layers only."""
