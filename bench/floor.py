"""The hardware's floor for one seed-step: its FLOPs and its bytes, counted from the shapes.

One seed-step of the seed's model (``grpo.core.seed_model``) on a task of B prompts of L tokens over a
vocab of V, hidden size D, is three matrix products forward, ``h = E[x] @ enc``
(B x LD x D), ``o = h @ dec`` (B x D x LD) and ``logits = o @ E^T`` (BL x D x V), and twice
that backward (the gradient of each input and of each weight): 6 B L D (2D + V) FLOPs,
about 13.5 kFLOP on the seed task. Its unavoidable memory traffic is the parameters' (n =
V D + 2 L D^2 floats): read forward, gradient written backward, then Adam reads parameter,
gradient and both moments and writes parameter and moments: 9 n floats, 23.4 kB on the seed
task. The activations (a few hundred floats a seed) stay in cache and are not counted.
Dividing by the machine's measured matmul FLOP/s and copy bandwidth (``bench/test_machine.py``)
gives the fastest a seed-step could be.
"""

FLOAT_BYTES = 4
PARAMETER_PASSES = 9  # forward read, gradient write, Adam: read p, g, m, v and write p, m, v


def seed_step_flops(batch: int, length: int, vocab: int, dim: int) -> int:
    """Matrix-product FLOPs of one seed's inner step (forward and backward)."""
    return 6 * batch * length * dim * (2 * dim + vocab)


def seed_step_bytes(length: int, vocab: int, dim: int) -> int:
    """Parameter and optimizer traffic of one seed's inner step."""
    parameters = vocab * dim + 2 * length * dim * dim
    return PARAMETER_PASSES * parameters * FLOAT_BYTES


def transformer_matmul_weights(vocab: int, dim: int, layers: int, mlp_ratio: int = 4) -> int:
    """The transformer policy's weights that multiply an activation at every token: each block's
    qkv, attention output and MLP, and the tied output layer over the task's tokens and EOS
    (grpo.core.transformer; embeddings and norms are lookups and element-wise)."""
    return layers * (3 * dim * dim + dim * dim + 2 * mlp_ratio * dim * dim) + dim * (vocab + 1)


def transformer_pass_flops(sequences: int, positions: int, vocab: int, dim: int, layers: int) -> int:
    """Matrix-product FLOPs of one forward pass over `sequences` of `positions` tokens, computed
    the plain way (every position through every block, the full attention square): 2 a weight a
    token, and attention's two products, 2 x positions^2 x dim each, a sequence and layer. A
    backward pass costs twice that (the gradient of each input and of each weight)."""
    return 2 * transformer_matmul_weights(vocab, dim, layers) * sequences * positions + 4 * layers * sequences * positions**2 * dim
