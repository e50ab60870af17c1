import torch

from superdiff.engine.analytic import GaussianMixture, product_of_gaussians


def _mixture(schedule):
    return GaussianMixture([[2.0, 1.0, 0.0], [-1.0, -2.0, 0.5]], [0.5, 0.8], [0.3, 0.7], schedule=schedule)


def test_score_is_gradient_of_log_prob_and_laplacian_is_its_trace(schedule):
    model = _mixture(schedule)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    t = torch.full((5,), 0.3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(model.log_prob(x, t).sum(), x, create_graph=True)
    assert torch.allclose(model.score(x, t), grad, atol=1e-10)
    trace = sum(torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(3))
    assert torch.allclose(model.laplacian(x, t), trace, atol=1e-8)


def test_log_prob_at_time_zero_is_the_data_density(schedule):
    model = GaussianMixture([[0.0, 0.0]], 2.0, schedule=schedule)
    x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 2.0).log_prob(x).sum()
    assert torch.allclose(model.log_prob(x, 0.0), expected, atol=1e-8)


def test_marginal_matches_diffused_data_samples(schedule):
    model = _mixture(schedule)
    g = torch.Generator().manual_seed(0)
    x0 = model.sample_data(200_000, generator=g)
    t = 0.4
    xt = schedule.alpha(t) * x0 + schedule.sigma(t) * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    # E[score] under q_t is zero and E[|score|^2] = -E[Laplacian] (integration by parts).
    s = model.score(xt, t)
    assert s.mean(0).abs().max() < 0.01
    assert abs(s.pow(2).sum(1).mean() + model.laplacian(xt, t).mean()) < 0.02 * s.pow(2).sum(1).mean()


def test_product_of_gaussians_closed_form():
    mean, std = product_of_gaussians(torch.tensor([1.0]), 1.0, torch.tensor([-1.0]), 1.0)
    assert torch.allclose(mean, torch.tensor([0.0], dtype=mean.dtype)) and abs(std - 2**-0.5) < 1e-12
