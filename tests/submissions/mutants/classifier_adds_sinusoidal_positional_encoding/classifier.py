"""Exercise 7 — an attention classifier, and its training loop done right.

Put the pieces together to classify whole sequences: embed each token, let the tokens attend to
one another, pool the sequence into one vector, and map it to class scores (logits):

    h = embed(x)                          (B, L, E)
    h = attn(h, padding_mask(lengths))    (B, L, E)   keys at padded positions are masked
    pooled = mean of h over the *real* positions of each sequence     (B, E)
    logits = fc(pooled)                   (B, num_classes)

Padding must not change the answer. Masking the padded keys keeps real tokens from attending to
padding, but the pooling must skip padded positions too: a plain ``h.mean(dim=1)`` averages them in,
so a sequence's logits would change with how much padding its batch happened to have. Sum over the
real positions and divide by the real length. ``lengths=None`` means every position is real.

Mean pooling alone sees only the average token, whatever the order and whatever the company each
token keeps; the attention layer lets each token's representation depend on the others first, so
the classifier can learn relations between tokens.

The training loop is the lesson's, with its bug fixed (it used ``optim`` without importing it):
each epoch clears the old gradients, computes the loss on the data, backpropagates and takes an
optimiser step, and records the loss. Full-batch (one step per epoch, as in the lesson) is fine.

Example::

    >>> model = AttentionClassifier(input_dim=5, embed_dim=16, num_heads=4, num_classes=2)
    >>> model(torch.randn(3, 7, 5), torch.tensor([7, 2, 4])).shape
    torch.Size([3, 2])
"""

import torch
from torch import nn

from .masking import padding_mask
from .encoder import sinusoidal_positional_encoding
from .multi_head import MultiHeadAttention


class AttentionClassifier(nn.Module):
    """Embed → multi-head self-attention (padded keys masked) → mean over real positions → linear.

    Args:
        input_dim: features per input token.
        embed_dim: the embedding size ``E``.
        num_heads: attention heads (must divide ``embed_dim``).
        num_classes: the number of classes.

    Attributes:
        embed: ``nn.Linear(input_dim, embed_dim)``. attn: ``MultiHeadAttention(embed_dim, num_heads)``.
        fc: ``nn.Linear(embed_dim, num_classes)``.
    """

    def __init__(self, input_dim: int, embed_dim: int, num_heads: int, num_classes: int):
        super().__init__()
        self.embed = nn.Linear(input_dim, embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads)
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        """Class logits for a batch of padded sequences.

        Args:
            x: shape ``(B, L, input_dim)``; positions at or past a sequence's length are padding.
            lengths: the real length of each sequence (1-D, ``B`` integers), or ``None`` when every
                position is real.

        Returns:
            Logits of shape ``(B, num_classes)`` that do not depend on what the padded positions
            hold. A sequence of length 0 gets the logits of an all-zero pooled vector.
        """
        B, L, _ = x.shape  # batch, length, input features
        if lengths is None:
            lengths = torch.full((B,), L, dtype=torch.long)
        real = padding_mask(lengths, max_len=L).to(x.device)  # (B, 1, L)
        is_real = real.transpose(1, 2)  # (B, L, 1)
        # Zero the padding before anything reads it: 0 * inf would still be nan in weights @ v.
        x = torch.where(is_real, x, 0.0)
        h = self.embed(x)  # (B, L, E)
        h = h + sinusoidal_positional_encoding(L, h.shape[-1]).to(h)
        h = self.attn(h, real)  # (B, L, E)
        h = torch.where(is_real, h, 0.0)
        counts = is_real.sum(dim=1).clamp(min=1).to(h.dtype)  # (B, 1)
        return self.fc(h.sum(dim=1) / counts)  # (B, num_classes)


def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    lengths: torch.Tensor | list[int] | None = None,
    *,
    epochs: int = 50,
    lr: float = 1e-3,
) -> list[float]:
    """Train ``model`` on ``(X, y)`` with Adam and cross-entropy.

    Args:
        model: a classifier whose ``forward(x, lengths)`` returns logits ``(B, num_classes)``.
        X: inputs, shape ``(B, L, input_dim)``. y: class indices, shape ``(B,)``.
        lengths: the real lengths, passed on to the model (``None``: every position is real).
        epochs: passes over the data. lr: Adam's learning rate.

    Returns:
        The loss of each epoch as a Python float (``epochs`` numbers). The model is trained in
        place and left in the training mode it had before.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    was_training = model.training
    model.train()
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(X, lengths), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.train(was_training)
    return losses
