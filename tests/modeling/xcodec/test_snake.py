"""Snake's training path: the hand-written backward is the derivative of the forward."""

import torch

from songgen_hf.modeling.xcodec.modeling_xcodec import Snake1d, _SnakeFunction


def test_snake_backward_passes_gradcheck_in_float64():
    x = torch.randn(2, 3, 17, dtype=torch.float64, requires_grad=True)
    alpha = (torch.rand(1, 3, 1, dtype=torch.float64) * 2 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, a: _SnakeFunction.apply(x, a, (a + 1e-9).reciprocal()), (x, alpha))


def test_snake_training_path_matches_autograd_of_the_formula():
    torch.manual_seed(0)
    snake = Snake1d(6)
    snake.alpha.data = torch.rand(1, 6, 1) * 3 + 0.05
    x = torch.randn(4, 6, 300, requires_grad=True)
    reference_x = x.detach().clone().requires_grad_()
    reference_alpha = snake.alpha.detach().clone().requires_grad_()
    reference = reference_x + (reference_alpha + 1e-9).reciprocal() * torch.sin(reference_alpha * reference_x).pow(2)
    out = snake(x)
    assert torch.equal(out, reference)  # the forward is the same operations in the same order
    grad = torch.randn_like(out)
    out.backward(grad)
    reference.backward(grad)
    torch.testing.assert_close(x.grad, reference_x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(snake.alpha.grad, reference_alpha.grad, rtol=1e-4, atol=1e-4)


def test_snake_inference_path_equals_training_path():
    snake = Snake1d(5)
    snake.alpha.data = torch.rand(1, 5, 1) + 0.5
    x = torch.randn(2, 5, 64)
    with torch.no_grad():
        inference = snake(x)
    assert torch.equal(inference, snake(x.requires_grad_()))
