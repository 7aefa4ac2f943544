"""The console (DESIGN §8): a read model of every stream and the pages over it."""
