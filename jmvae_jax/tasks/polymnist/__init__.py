"""PolyMNIST: JMVAE over five image modalities that share only the digit's class."""
