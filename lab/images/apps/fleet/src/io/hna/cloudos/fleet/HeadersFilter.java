package io.hna.cloudos.fleet;

import java.io.IOException;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/** Every response says which version on which container answered (load balancer tests read it). */
public final class HeadersFilter extends HttpFilter {

    private static final long serialVersionUID = 1L;

    @Override
    protected void doFilter(HttpServletRequest req, HttpServletResponse resp, FilterChain chain)
            throws IOException, ServletException {
        App app = App.get();
        resp.setHeader("X-App-Version", app.version);
        resp.setHeader("X-App-Host", app.host);
        resp.setHeader("Cache-Control", "no-store");
        chain.doFilter(req, resp);
    }
}
