"""A synthetic class for the similarity report (shared by its tests and its benchmark).

``HONEST[exercise]`` holds answers written independently of each other and of
the course's solution: each solves the exercise another way (a loop instead of
vectorised code, stacked gates instead of one gate at a time, a while loop, a
helper function, ...), as different learners do. ``disguise`` makes a copy of
an answer look different the usual ways: renamed variables, new comments and
docstring, blank lines, other spacing, reordered independent statements.
Nothing here imports the similarity module: the disguises are made without it.
"""

import ast
import io
import random
import re
import textwrap
import tokenize

from grader_fixtures import release_notebook, solution_sources

HONEST = {
    "dense_backward": [
        """
        dx = np.dot(dy, W)
        dW = np.dot(np.transpose(dy), x)
        db = np.sum(dy, axis=0)
        """,
        """
        dW = np.einsum("no,ni->oi", dy, x)
        db = dy.sum(0)
        dx = np.einsum("no,oi->ni", dy, W)
        """,
        """
        dx = (W.T @ dy.T).T
        dW = (x.T @ dy).T
        db = np.ones(dy.shape[0]) @ dy
        """,
    ],
    "rnn_cell_forward": [
        """
        hx = np.hstack((h_prev, x_t))
        pre_activation = np.dot(hx, W_h.T) + b_h
        h_t = np.tanh(pre_activation)
        """,
        """
        H = h_prev.shape[1]
        hx = np.concatenate((h_prev, x_t), axis=-1)
        h_t = np.tanh(h_prev @ W_h[:, :H].T + x_t @ W_h[:, H:].T + b_h)
        """,
        """
        hx = np.column_stack([h_prev, x_t])
        z = (W_h @ hx.T).T
        h_t = np.tanh(z + b_h[None, :])
        """,
    ],
    "rnn_forward": [
        """
        t = 0
        state = h0
        while t < T:
            out = rnn_cell_forward(x[t], state, params)
            state = out[0]
            steps.append(out[1])
            h[t, :, :] = state
            t += 1
        """,
        """
        for t, x_t in enumerate(x):
            h_prev = h0 if t == 0 else h[t - 1]
            h[t], cache_t = rnn_cell_forward(x_t, h_prev, params)
            steps.append(cache_t)
        """,
        """
        results = []
        prev = h0
        for x_t in x:
            new_h, c = rnn_cell_forward(x_t, prev, params)
            results.append(new_h)
            steps.append(c)
            prev = new_h
        h = np.stack(results)
        """,
    ],
    "rnn_cell_backward": [
        """
        dz = dh_t * (1 - np.square(h_t))
        dW = np.dot(dz.T, hx)
        db = np.sum(dz, axis=0)
        grads = {"W_h": dW, "b_h": db}
        dh_prev = np.dot(dz, W_h[:, :H])
        dx_t = np.dot(dz, W_h[:, H:])
        """,
        """
        local = 1.0 - h_t * h_t
        delta = local * dh_t
        d_hx = delta @ W_h
        dx_t = d_hx[:, H:]
        dh_prev = d_hx[:, :H]
        grads = dict(W_h=np.einsum("ni,nj->ij", delta, hx), b_h=delta.sum(0))
        """,
        """
        grad_pre = dh_t - dh_t * h_t ** 2
        grads = {}
        grads["b_h"] = grad_pre.sum(axis=0)
        grads["W_h"] = grad_pre.T.dot(hx)
        dh_prev = grad_pre.dot(W_h[:, :H])
        dx_t = grad_pre.dot(W_h[:, H:])
        """,
    ],
    "rnn_backward": [
        """
        carry = np.zeros((N, H))
        t = T - 1
        while t >= 0:
            total = dh[t] + carry
            dx_t, carry, g = rnn_cell_backward(total, steps[t])
            dx[t] = dx_t
            grads["W_h"] += g["W_h"]
            grads["b_h"] += g["b_h"]
            t -= 1
        dh0 = carry
        """,
        """
        dh_prev = np.zeros_like(dh[0])
        for t in range(T - 1, -1, -1):
            result = rnn_cell_backward(dh[t] + dh_prev, steps[t])
            dx[t] = result[0]
            dh_prev = result[1]
            grads = {k: grads[k] + result[2][k] for k in grads}
        dh0 = dh_prev
        """,
        """
        upstream = np.zeros((N, H))
        per_step = []
        for t in reversed(range(T)):
            dx[t], upstream, step = rnn_cell_backward(dh[t] + upstream, steps[t])
            per_step.append(step)
        for name in grads:
            grads[name] = sum(step[name] for step in per_step)
        dh0 = upstream
        """,
    ],
    "gradient_norms_by_lag": [
        """
        W_hh = params["W_h"][:, :H]
        for n in range(N):
            J = np.eye(H)
            for t in range(T - 1, -1, -1):
                J = J @ (np.diag(1 - states[t + 1, n] ** 2) @ W_hh)
                norms[n, t] = np.linalg.svd(J, compute_uv=False).max()
        """,
        """
        R = params["W_h"][:, :H]
        acc = np.tile(np.eye(H), (N, 1, 1))
        t = T
        while t > 0:
            t -= 1
            d = 1.0 - np.square(states[t + 1])
            acc = np.einsum("nij,njk->nik", acc, d[:, :, None] * R)
            norms[:, t] = np.linalg.norm(acc, 2, axis=(1, 2))
        """,
        """
        recurrent = params["W_h"][:, :H]
        for n in range(N):
            jac_product = np.identity(H)
            column = []
            for t in reversed(range(T)):
                step = (1.0 - states[t + 1][n] ** 2)[:, None] * recurrent
                jac_product = jac_product.dot(step)
                column.append(np.linalg.norm(jac_product, ord=2))
            norms[n] = column[::-1]
        """,
    ],
    "predict_from_weights": [
        """
        singular_values = np.linalg.svd(W_h[:, :H], compute_uv=False)
        sigma_max = float(singular_values.max())
        if activation == "tanh":
            bound = 1.0
        else:
            bound = 4.0
        verdict = "vanishes" if sigma_max < bound else "may explode"
        """,
        """
        W_rec = W_h[:, :H]
        sigma_max = float(np.sqrt(np.max(np.linalg.eigvalsh(W_rec.T @ W_rec))))
        gamma = 1.0 if activation == "tanh" else 0.25
        if sigma_max * gamma < 1:
            verdict = "vanishes"
        else:
            verdict = "may explode"
        """,
        """
        sigma_max = np.linalg.norm(W_h[:, :H], ord=2).item()
        limits = {"tanh": 1.0, "sigmoid": 4.0}
        verdict = ("vanishes", "may explode")[int(sigma_max >= limits[activation])]
        """,
    ],
    "clip_grad_norm": [
        """
        squares = 0.0
        for g in grads.values():
            squares += float((g * g).sum())
        total_norm = squares ** 0.5
        clipped = {}
        for key in grads:
            if total_norm > max_norm:
                clipped[key] = grads[key] * (max_norm / total_norm)
            else:
                clipped[key] = grads[key].copy()
        """,
        """
        flat = np.concatenate([np.ravel(g) for g in grads.values()])
        total_norm = float(np.linalg.norm(flat))
        factor = min(1.0, max_norm / total_norm) if total_norm > 0 else 1.0
        clipped = dict((k, v * factor) for k, v in grads.items())
        """,
        """
        total_norm = float(np.sqrt(np.sum([np.sum(np.square(v)) for v in grads.values()])))
        clipped = {k: np.array(v, dtype=float, copy=True) for k, v in grads.items()}
        if total_norm > max_norm:
            for k in clipped:
                clipped[k] *= max_norm / total_norm
        """,
    ],
    "lstm_cell_forward": [
        """
        hx = np.concatenate([h_prev, x_t], 1)
        f = sigmoid(hx @ params["W_f"].T + params["b_f"])
        i = sigmoid(hx @ params["W_i"].T + params["b_i"])
        c_tilde = np.tanh(hx @ params["W_c"].T + params["b_c"])
        o = sigmoid(hx @ params["W_o"].T + params["b_o"])
        c_t = f * c_prev + i * c_tilde
        h_t = o * np.tanh(c_t)
        """,
        """
        hx = np.hstack([h_prev, x_t])
        W = np.concatenate([params["W_" + g] for g in "fico"], axis=0)
        b = np.concatenate([params["b_" + g] for g in "fico"])
        a = hx @ W.T + b
        H = h_prev.shape[1]
        f, i, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
        c_tilde = np.tanh(a[:, 2 * H:3 * H])
        c_t = cell_update(f, c_prev, i, c_tilde)
        h_t = o * np.tanh(c_t)
        """,
        """
        hx = np.concatenate((h_prev, x_t), axis=1)
        f = forget_gate(hx, params)
        i, c_tilde = input_gate_and_candidate(hx, params)
        c_t = f * c_prev + i * c_tilde
        o = sigmoid(np.dot(hx, params["W_o"].T) + params["b_o"])
        h_t = o * np.tanh(c_t)
        """,
    ],
    "lstm_forward": [
        """
        state_h, state_c = h0, c0
        t = 0
        while t < T:
            state_h, state_c, cache_t = lstm_cell_forward(x[t], state_h, state_c, params)
            h[t, :, :] = state_h
            c[t, :, :] = state_c
            steps += [cache_t]
            t += 1
        """,
        """
        for t, x_t in enumerate(x):
            prev_h = h[t - 1] if t > 0 else h0
            prev_c = c[t - 1] if t > 0 else c0
            h[t], c[t], step = lstm_cell_forward(x_t, prev_h, prev_c, params)
            steps.append(step)
        """,
        """
        hs, cs = [], []
        for x_t in x:
            h_last = hs[-1] if hs else h0
            c_last = cs[-1] if cs else c0
            out_h, out_c, cell_cache = lstm_cell_forward(x_t, h_last, c_last, params)
            hs.append(out_h)
            cs.append(out_c)
            steps.append(cell_cache)
        h, c = np.array(hs), np.array(cs)
        """,
    ],
    "lstm_cell_backward": [
        """
        do = dh_t * tanh_c
        dc = dc_t + dh_t * o * (1 - tanh_c ** 2)
        dc_prev = f * dc
        da_f = dc * c_prev * f * (1 - f)
        da_i = dc * c_tilde * i * (1 - i)
        da_c = dc * i * (1 - c_tilde ** 2)
        da_o = do * o * (1 - o)
        grads = {"W_f": da_f.T @ hx, "b_f": da_f.sum(0), "W_i": da_i.T @ hx, "b_i": da_i.sum(0),
                 "W_c": da_c.T @ hx, "b_c": da_c.sum(0), "W_o": da_o.T @ hx, "b_o": da_o.sum(0)}
        dhx = da_f @ params["W_f"] + da_i @ params["W_i"] + da_c @ params["W_c"] + da_o @ params["W_o"]
        dh_prev = dhx[:, :H]
        dx_t = dhx[:, H:]
        """,
        """
        dc_total = dc_t + dh_t * o * (1.0 - tanh_c * tanh_c)
        d_pre = np.concatenate([
            dc_total * c_prev * f * (1.0 - f),
            dc_total * c_tilde * i * (1.0 - i),
            dc_total * i * (1.0 - c_tilde * c_tilde),
            dh_t * tanh_c * o * (1.0 - o),
        ], axis=1)
        W_all = np.vstack([params["W_f"], params["W_i"], params["W_c"], params["W_o"]])
        dW_all = d_pre.T @ hx
        db_all = d_pre.sum(axis=0)
        grads = {}
        for k, g in enumerate("fico"):
            grads["W_" + g] = dW_all[k * H:(k + 1) * H]
            grads["b_" + g] = db_all[k * H:(k + 1) * H]
        d_hx = d_pre @ W_all
        dx_t, dh_prev = d_hx[:, H:], d_hx[:, :H]
        dc_prev = dc_total * f
        """,
        """
        def through_sigmoid(upstream, s):
            return upstream * s * (1 - s)

        def through_tanh(upstream, t):
            return upstream * (1 - t ** 2)

        dc = dc_t + through_tanh(dh_t * o, tanh_c)
        pre = {
            "o": through_sigmoid(dh_t * tanh_c, o),
            "f": through_sigmoid(dc * c_prev, f),
            "i": through_sigmoid(dc * c_tilde, i),
            "c": through_tanh(dc * i, c_tilde),
        }
        grads = {}
        dhx = 0
        for gate, d in pre.items():
            grads[f"W_{gate}"] = np.dot(d.T, hx)
            grads[f"b_{gate}"] = np.sum(d, axis=0)
            dhx = dhx + np.dot(d, params[f"W_{gate}"])
        dc_prev = dc * f
        dh_prev, dx_t = dhx[:, :H], dhx[:, H:]
        """,
    ],
    "lstm_backward": [
        """
        dh_carry = np.zeros((N, H))
        dc_carry = dc_last if dc_last is not None else np.zeros((N, H))
        t = T - 1
        while t >= 0:
            dx[t], dh_carry, dc_carry, g = lstm_cell_backward(dh[t] + dh_carry, dc_carry, steps[t])
            for name, value in g.items():
                grads[name] += value
            t -= 1
        dh0 = dh_carry
        dc0 = dc_carry
        """,
        """
        dh0 = np.zeros_like(dh[0])
        dc0 = np.zeros_like(dh[0]) if dc_last is None else dc_last.copy()
        for t in range(T - 1, -1, -1):
            out = lstm_cell_backward(dh[t] + dh0, dc0, steps[t])
            dx[t] = out[0]
            dh0, dc0 = out[1], out[2]
            grads = {key: grads[key] + out[3][key] for key in grads}
        """,
        """
        if dc_last is None:
            dc_last = np.zeros((N, H))
        gh, gc = np.zeros((N, H)), dc_last
        collected = []
        for t in reversed(range(T)):
            dx_t, gh, gc, step_grads = lstm_cell_backward(dh[t] + gh, gc, steps[t])
            dx[t] = dx_t
            collected.append(step_grads)
        grads = {key: sum(s[key] for s in collected) + grads[key] for key in grads}
        dh0, dc0 = gh, gc
        """,
    ],
    "peephole_lstm_cell_forward": [
        """
        hx = np.hstack([h_prev, x_t])

        def gate(name, peek):
            return sigmoid(np.dot(hx, p["W_" + name].T) + p["b_" + name] + p["p_" + name] * peek)

        f = gate("f", c_prev)
        i = gate("i", c_prev)
        c_tilde = np.tanh(np.dot(hx, p["W_c"].T) + p["b_c"])
        c_t = f * c_prev + i * c_tilde
        o = gate("o", c_t)
        h_t = o * np.tanh(c_t)
        """,
        """
        hx = np.concatenate((h_prev, x_t), axis=1)
        a_f = hx @ p["W_f"].T + p["b_f"]
        a_i = hx @ p["W_i"].T + p["b_i"]
        a_c = hx @ p["W_c"].T + p["b_c"]
        a_o = hx @ p["W_o"].T + p["b_o"]
        f = sigmoid(a_f + c_prev * p["p_f"])
        i = sigmoid(a_i + c_prev * p["p_i"])
        c_tilde = np.tanh(a_c)
        c_t = f * c_prev + i * c_tilde
        o = sigmoid(a_o + c_t * p["p_o"])
        h_t = o * np.tanh(c_t)
        """,
        """
        H = h_prev.shape[1]
        hx = np.concatenate([h_prev, x_t], axis=-1)
        pre = {g: h_prev @ p["W_" + g][:, :H].T + x_t @ p["W_" + g][:, H:].T + p["b_" + g] for g in "fico"}
        f = sigmoid(pre["f"] + p["p_f"] * c_prev)
        i = sigmoid(pre["i"] + p["p_i"] * c_prev)
        c_tilde = np.tanh(pre["c"])
        c_t = c_prev * f + c_tilde * i
        o = sigmoid(pre["o"] + p["p_o"] * c_t)
        h_t = np.tanh(c_t) * o
        """,
    ],
    "cifg_lstm_cell_forward": [
        """
        hx = np.hstack([h_prev, x_t])
        f = sigmoid(np.dot(hx, p["W_f"].T) + p["b_f"])
        c_tilde = np.tanh(np.dot(hx, p["W_c"].T) + p["b_c"])
        c_t = c_tilde + f * (c_prev - c_tilde)
        o = sigmoid(np.dot(hx, p["W_o"].T) + p["b_o"])
        h_t = o * np.tanh(c_t)
        """,
        """
        hx = np.concatenate((h_prev, x_t), axis=1)
        pre = {g: hx @ p[f"W_{g}"].T + p[f"b_{g}"] for g in ("f", "c", "o")}
        f, o = sigmoid(pre["f"]), sigmoid(pre["o"])
        c_tilde = np.tanh(pre["c"])
        i = 1.0 - f
        c_t = f * c_prev + i * c_tilde
        h_t = o * np.tanh(c_t)
        """,
        """
        H = h_prev.shape[1]
        hx = np.column_stack((h_prev, x_t))
        W = np.vstack([p["W_f"], p["W_c"], p["W_o"]])
        b = np.hstack([p["b_f"], p["b_c"], p["b_o"]])
        a = hx @ W.T + b
        f = sigmoid(a[:, :H])
        c_tilde = np.tanh(a[:, H:2 * H])
        o = sigmoid(a[:, 2 * H:])
        c_t = f * c_prev + (1.0 - f) * c_tilde
        h_t = o * np.tanh(c_t)
        """,
    ],
    "gru_cell_forward": [
        """
        hx = np.hstack([h_prev, x_t])
        z = sigmoid(hx @ p["W_z"].T + p["b_z"])
        r = sigmoid(hx @ p["W_r"].T + p["b_r"])
        U, W = p["W_h"][:, :H], p["W_h"][:, H:]
        recurrent = (r * (h_prev @ U.T)) if reset_after else (r * h_prev) @ U.T
        h_tilde = np.tanh(recurrent + x_t @ W.T + p["b_h"])
        h_t = h_prev + z * (h_tilde - h_prev)
        """,
        """
        hx = np.concatenate((h_prev, x_t), axis=1)
        gates = sigmoid(hx @ np.concatenate([p["W_z"], p["W_r"]]).T + np.concatenate([p["b_z"], p["b_r"]]))
        z, r = gates[:, :H], gates[:, H:]
        if not reset_after:
            hx_reset = np.concatenate((r * h_prev, x_t), axis=1)
            h_tilde = np.tanh(hx_reset @ p["W_h"].T + p["b_h"])
        else:
            h_tilde = np.tanh(r * np.dot(h_prev, p["W_h"][:, :H].T) + np.dot(x_t, p["W_h"][:, H:].T) + p["b_h"])
        h_t = (1.0 - z) * h_prev + z * h_tilde
        """,
        """
        hx = np.concatenate([h_prev, x_t], axis=1)
        a_z = np.dot(hx, p["W_z"].T) + p["b_z"]
        a_r = np.dot(hx, p["W_r"].T) + p["b_r"]
        z, r = sigmoid(a_z), sigmoid(a_r)
        from_x = np.dot(x_t, p["W_h"][:, H:].T)
        if reset_after:
            from_h = r * np.dot(h_prev, p["W_h"][:, :H].T)
        else:
            from_h = np.dot(r * h_prev, p["W_h"][:, :H].T)
        h_tilde = np.tanh(from_h + from_x + p["b_h"])
        h_t = z * h_tilde + (1 - z) * h_prev
        """,
    ],
    "param_counts": [
        """
        per_gate = (H + D) * H + H
        counts = {}
        counts["lstm"] = 4 * per_gate
        counts["peephole"] = counts["lstm"] + 3 * H
        counts["cifg"] = 3 * per_gate
        counts["gru"] = 3 * per_gate
        """,
        """
        gates = {"lstm": 4, "peephole": 4, "cifg": 3, "gru": 3}
        counts = {name: n * (H * (H + D) + H) for name, n in gates.items()}
        counts["peephole"] += 3 * H
        """,
        """
        weights = H * (D + H)
        biases = H
        counts = dict(lstm=4 * (weights + biases), cifg=3 * (weights + biases), gru=3 * (weights + biases),
                      peephole=4 * (weights + biases) + 3 * biases)
        """,
    ],
    "train_step": [
        """
        h0 = np.zeros((N, H))
        c0 = np.zeros((N, H))
        hs, cs, cache = lstm_forward(x, h0, c0, lstm_params)
        h_last = hs[T - 1]
        pred = np.dot(h_last, W_y.T) + b_y
        err = pred - y
        d_pred = 2.0 * err / N
        upstream = np.concatenate([np.zeros((T - 1, N, H)), np.dot(d_pred, W_y)[None]])
        grads = dict(lstm_backward(upstream, cache)[3])
        grads["W_y"] = np.dot(d_pred.T, h_last)
        grads["b_y"] = np.sum(d_pred, axis=0)
        clipped, _ = clip_grad_norm(grads, max_norm)
        new_params = {}
        for key, value in params.items():
            new_params[key] = value - lr * clipped[key]
        """,
        """
        zeros = np.zeros((N, H))
        h, _, cache = lstm_forward(x, zeros, zeros.copy(), lstm_params)
        out = h[-1] @ W_y.T + b_y
        g_out = (out - y) * (2.0 / N)
        g_h = np.zeros_like(h)
        g_h[-1] = g_out @ W_y
        g_lstm = lstm_backward(g_h, cache)[-1]
        all_grads = {"W_y": g_out.T @ h[-1], "b_y": g_out.sum(axis=0), **g_lstm}
        norm = np.sqrt(sum((g ** 2).sum() for g in all_grads.values()))
        scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
        new_params = {k: v - lr * scale * all_grads[k] for k, v in params.items()}
        """,
        """
        state = np.zeros((N, H))
        hidden, cells, fwd_cache = lstm_forward(x, state, state, lstm_params)
        last = hidden[-1]
        residual = last @ W_y.T + b_y - y
        d_yhat = 2 * residual / N
        upstream = np.zeros((T, N, H))
        upstream[T - 1] = d_yhat @ W_y
        dx, dh0, dc0, grads = lstm_backward(upstream, fwd_cache)
        grads = dict(grads)
        grads.update(W_y=d_yhat.T @ last, b_y=d_yhat.sum(0))
        grads, total = clip_grad_norm(grads, max_norm)
        new_params = {name: params[name] - lr * grads[name] for name in params}
        """,
    ],
}

_STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n", re.MULTILINE)


def chapter_of(exercise):
    from grader_fixtures import chapters

    return next(c for c in chapters() if exercise in solution_sources(c))


def calibration_figures(exercise, copies_per_answer=4):
    """The similarities behind the default threshold, for one exercise of :data:`HONEST`:

    ``(honest pairs, honest against the reference, copies)``: every pair of answers written
    independently (the honest ones and the solution, one more honest way to write it); each honest
    answer against the closest reference; and each independent answer and the package's reference
    against ``copies_per_answer`` disguised copies of it, and those copies against each other.
    """
    import itertools

    from lstm_helpers.classroom.similarity import answer_similarity, reference_sources
    from lstm_helpers.exercises import EXERCISES

    chapter = chapter_of(exercise)
    given = release_cell(chapter, exercise)
    honest = honest_answers(chapter)[exercise]
    independent = [solution_sources(chapter)[exercise]] + honest
    pairs = [answer_similarity(a, b, given=given) for a, b in itertools.combinations(independent, 2)]
    references = reference_sources(EXERCISES[exercise]).values()
    against_reference = [max(answer_similarity(h, r, given=given) for r in references) for h in honest]
    copies = []
    for k, base in enumerate(independent + [package_reference(exercise)]):
        disguised = [disguise(base, seed=100 * k + s) for s in range(copies_per_answer)]
        copies += [answer_similarity(base, c, given=given) for c in disguised]
        copies += [answer_similarity(a, b, given=given) for a, b in itertools.combinations(disguised, 2)]
    return pairs, against_reference, copies


def release_cell(chapter, exercise):
    for cell in release_notebook(chapter).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == exercise:
            return cell.source
    raise KeyError(exercise)


def fill(chapter, exercise, body):
    """The release's answer cell of ``exercise`` with its stub replaced by ``body``."""
    source = release_cell(chapter, exercise)
    match = _STUB.search(source)
    indented = textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", match.group(1))
    return source[: match.start()] + indented + source[match.end():]


def honest_answers(chapter):
    """``{exercise: [answer cell]}`` of the honest variants of the chapter's exercises."""
    solutions = solution_sources(chapter)
    return {name: [fill(chapter, name, body) for body in HONEST[name]] for name in solutions if name in HONEST}


# ---------------------------------------------------------------------------
# Disguises
# ---------------------------------------------------------------------------

_NEW_NAMES = ["tmp", "val", "res", "acc", "buf", "thing", "stuff", "aux", "work", "part", "piece", "item",
              "alpha", "beta", "gamma_", "delta_", "omega", "zeta", "kappa", "sigma_", "q", "w", "e", "u"]
_COMMENTS = ["# compute the next part", "# as in the lecture", "# step", "# this took me a while",
             "# TODO tidy up", "# see the equations above", "# shapes: (N, H)", "# works now"]


def _local_names(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def rename(source, rng):
    """Every local variable and argument renamed (the function's own name stays: the tests call it)."""
    tree = ast.parse(source)
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | _local_names(tree)
    pool = [n for n in _NEW_NAMES if n not in taken]
    rng.shuffle(pool)
    mapping = {}
    for index, name in enumerate(sorted(_local_names(tree))):
        mapping[name] = pool[index] if index < len(pool) else f"v{index}_"
    out, depth, previous, signature = [], 0, None, False
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for index, tok in enumerate(tokens):
        text = tok.string
        if tok.type == tokenize.NAME and text in ("def", "lambda"):
            signature = True
        elif tok.type == tokenize.OP and text == ":" and depth <= 1:
            signature = False
        if tok.type == tokenize.OP and text in "([{":
            depth += 1
        elif tok.type == tokenize.OP and text in ")]}":
            depth -= 1
        nxt = tokens[index + 1].string if index + 1 < len(tokens) else ""
        is_keyword_argument = depth > 0 and nxt == "=" and previous in ("(", ",") and not signature
        if tok.type == tokenize.NAME and text in mapping and previous != "." and not is_keyword_argument:
            text = mapping[text]
        elif tok.type == tokenize.STRING and text[:1] in "fF":
            text = re.sub(r"\{(\w+)(?=[}!:])", lambda m: "{" + mapping.get(m.group(1), m.group(1)), text)
        out.append((tok.type, text))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.string
    return tokenize.untokenize(out)


def _reads_writes(stmt):
    reads = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    writes = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                writes.add(base.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value,
                                                                                             ast.Name):
            writes.add(node.func.value.id)
    return reads, writes


def reorder(source, rng):
    """Swap neighbouring one-line statements of a block that do not depend on each other."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        index = 0
        while index < len(body) - 1:
            a, b = body[index], body[index + 1]
            simple = all(isinstance(s, (ast.Assign, ast.AugAssign, ast.Expr)) and s.lineno == s.end_lineno
                         and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in (a, b))
            if simple and b.lineno == a.lineno + 1 and rng.random() < 0.7:
                (ra, wa), (rb, wb) = _reads_writes(a), _reads_writes(b)
                if not (wa & (rb | wb) or ra & wb):
                    lines[a.lineno - 1], lines[b.lineno - 1] = lines[b.lineno - 1], lines[a.lineno - 1]
                    index += 2
                    continue
            index += 1
    return "".join(lines)


def recomment(source, rng):
    """A new docstring, comments above and after statements, blank lines."""
    tree = ast.parse(source)
    starts = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        for stmt in body if isinstance(body, list) else []:
            if isinstance(stmt, ast.stmt):
                starts.add(stmt.lineno)
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    docstring_lines = set()
    if func is not None and ast.get_docstring(func) is not None:
        doc = func.body[0]
        docstring_lines = set(range(doc.lineno, doc.end_lineno + 1))
    out = []
    for number, line in enumerate(source.splitlines(), start=1):
        if number in docstring_lines:
            if number == min(docstring_lines):
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f'{indent}"""My implementation, see the notebook for the shapes."""')
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if number in starts and number > 1 and rng.random() < 0.5:
            if rng.random() < 0.4:
                out.append("")
            out.append(indent + rng.choice(_COMMENTS))
        if number in starts and line.strip() and rng.random() < 0.3 and not line.rstrip().endswith((":", ",", "(",
                                                                                                   "[", "{")):
            line = line.rstrip() + "  " + rng.choice(_COMMENTS)
        out.append(line)
    return "\n".join(out) + "\n"


def respace(source, rng):
    """Other spacing: every token spaced the way ``tokenize.untokenize`` does, or lines joined with ``;``."""
    out = [(tok.type, tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)]
    text = tokenize.untokenize(out)
    if rng.random() < 0.5:
        return text
    # two one-line statements of the same block on one line: "a = 1; b = 2"
    lines = source.splitlines()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for a, b in zip(body, body[1:]):
                if (a.lineno == a.end_lineno and b.lineno == b.end_lineno == a.lineno + 1
                        and isinstance(a, ast.Assign) and "#" not in lines[a.lineno - 1]
                        and lines[a.lineno - 1].strip()):
                    lines[a.lineno - 1] = lines[a.lineno - 1].rstrip() + "; " + lines[b.lineno - 1].strip()
                    lines[b.lineno - 1] = ""
                    break
    return "\n".join(lines) + "\n"


def disguise(source, seed):
    """A copy of ``source`` disguised the usual ways; parses, and computes the same thing."""
    rng = random.Random(seed)
    text = reorder(source, rng)
    text = rename(text, rng)
    text = respace(text, rng)
    text = recomment(text, rng)
    ast.parse(text)
    return text


# ---------------------------------------------------------------------------
# A class
# ---------------------------------------------------------------------------


def package_reference(exercise):
    """The source of the package's reference of ``exercise``, pasted as an answer cell would be:
    without its ``@checked_by(...)`` line, which does not run in a notebook."""
    import inspect

    from lstm_helpers.exercises import EXERCISES

    source = textwrap.dedent(inspect.getsource(EXERCISES[exercise].reference))
    return "\n".join(line for line in source.splitlines() if not line.startswith("@")) + "\n"


def code_exercises(chapter):
    """``{exercise: solution cell}`` of the chapter's code exercises: the questions (a number or a word)
    and the written answers (markdown) are left out, as no copier would disguise them."""
    from lstm_helpers.exercises import EXERCISES

    return {name: source for name, source in solution_sources(chapter).items()
            if name in EXERCISES and EXERCISES[name].kind != "value"}


def class_answers(chapter):
    """``{student: {exercise: answer cell}}`` of a small class (exercises left out are blank):

    * ``honest_1`` .. ``honest_3`` answer the exercises of :data:`HONEST`, each another way;
    * ``copier_1`` and ``copier_2`` hand in disguised copies of ``honest_1`` and ``honest_2``;
    * ``solution_copier`` hands in a disguised copy of the solution notebook, every exercise;
    * ``package_copier`` pastes the package's reference function (disguised), every exercise;
    * ``blank_1`` and ``blank_2`` hand in the release untouched.
    """
    honest = honest_answers(chapter)
    solutions = code_exercises(chapter)
    students = {f"honest_{k + 1}": {name: cells[k] for name, cells in honest.items()} for k in range(3)}
    for k in (1, 2):
        students[f"copier_{k}"] = {name: disguise(cell, seed=10 * k + index) for index, (name, cell) in
                                   enumerate(students[f"honest_{k}"].items())}
    students["solution_copier"] = {name: disguise(cell, seed=index) for index, (name, cell) in
                                   enumerate(solutions.items())}
    students["package_copier"] = {name: disguise(package_reference(name), seed=50 + index) for index, name in
                                  enumerate(solutions)}
    students["blank_1"] = students["blank_2"] = {}
    return students


def write_class(folder, chapters):
    """The class of :func:`class_answers` as ``<student>_<chapter>.ipynb`` files in ``folder``."""
    from grader_fixtures import make_submission, write_notebook

    for chapter in chapters:
        all_exercises = list(solution_sources(chapter))
        for student, answers in class_answers(chapter).items():
            blank = [name for name in all_exercises if name not in answers]
            write_notebook(make_submission(chapter, answers, blank=blank), folder / f"{student}_{chapter}.ipynb")
    return folder
