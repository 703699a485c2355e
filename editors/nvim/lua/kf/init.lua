-- kf for Neovim: the `kf serve` language server's commands at the cursor, job tracking and
-- progress. Works with Neovim 0.7 (vim.lsp.start_client) up to 0.11+ (vim.lsp.config /
-- vim.lsp.enable with lsp/kf.lua). Server protocol: docs/lsp.md; commands take ONE
-- camelCase object: kf.optimize {uri, kernel, budget?, evalSeconds?}, kf.stop {job} or
-- {uri, kernel}, kf.applyVariant {uri, kernel, variant?, version?}.
local M = {}

M.jobs = {} -- job id -> last payload (kf/jobStarted / kf/jobProgress / kf/jobFinished)
M.finished = {} -- finished payloads, in order
M.progress_log = {} -- {token, kind, message} of every $/progress the kf server sent
M.messages = {} -- what kf told the user (vim.notify), newest last

local has = function(v) return vim.fn.has(v) == 1 end

local function notify(msg, level)
  table.insert(M.messages, msg)
  vim.schedule(function() vim.notify(msg, level or vim.log.levels.INFO) end)
end

--- The command that starts the server: `opts.python -m kf_lsp serve` or `kf serve`.
function M.cmd(opts)
  opts = opts or {}
  local python = opts.python or vim.g.kf_python
  local cmd = (python and python ~= '') and { vim.fn.expand(python), '-m', 'kf_lsp', 'serve' } or { 'kf', 'serve' }
  for _, a in ipairs(opts.extra_args or {}) do table.insert(cmd, a) end
  return cmd
end

local function fire(pattern, data)
  local ok = pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = pattern, modeline = false, data = data })
  if not ok then pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = pattern, modeline = false }) end
end

local function fmt_x(s) return type(s) == 'number' and string.format('%.2fx', s) or '-' end

local function finished_text(p)
  if p.error and p.error ~= vim.NIL then return p.error, vim.log.levels.ERROR end
  local b = p.best
  -- the server's states (docs/lsp.md): cancelled = stopped; interrupted = the server stopped first
  local stopped = p.state == 'cancelled' and 'stopped' or p.state == 'interrupted' and 'interrupted' or 'finished'
  if type(b) == 'table' and b.operator ~= 'reference' and b.significant ~= false and type(b.speedup) == 'number' and b.speedup > 1 then
    local tun = {}
    for k, v in pairs(b.tunables or {}) do table.insert(tun, k .. '=' .. tostring(v)) end
    table.sort(tun)
    -- a search stopped before its final re-time offers its first measurements: said so
    local note = (p.state == 'cancelled' or p.state == 'interrupted') and ', not re-timed' or ''
    return string.format('kf: %s %s: %s faster variant (%s %s)%s; :KfApply applies it', p.kernel, stopped,
      fmt_x(b.speedup), b.operator, table.concat(tun, ', '), note), vim.log.levels.INFO
  end
  return string.format('kf: %s %s after %d evaluations: no verified faster variant', p.kernel, stopped, p.done or 0),
    vim.log.levels.INFO
end

local last_echo = 0
M.handlers = {
  ['kf/jobStarted'] = function(_, p)
    if type(p) == 'table' and p.jobId then M.jobs[p.jobId] = p; fire('KfJobStarted', p) end
  end,
  ['kf/jobProgress'] = function(_, p)
    if type(p) ~= 'table' or not p.jobId then return end
    M.jobs[p.jobId] = p
    fire('KfJobProgress', p)
    local now = vim.loop.now()
    if now - last_echo > 1000 and not has('nvim-0.10') then -- 0.10+: LspProgress shows it
      last_echo = now
      vim.schedule(function()
        vim.api.nvim_echo({ { string.format('kf: %s %d/%d best %s', p.kernel, p.done or 0, p.budget or 0, fmt_x(p.bestSpeedup)) } }, false, {})
      end)
    end
  end,
  ['kf/jobFinished'] = function(_, p)
    if type(p) ~= 'table' or not p.jobId then return end
    if p.state == 'queued' or p.state == 'running' then p.state = (p.error and p.error ~= vim.NIL) and 'error' or 'done' end
    M.jobs[p.jobId] = p
    table.insert(M.finished, p)
    local text, level = finished_text(p)
    if level ~= vim.log.levels.ERROR then notify(text, level) else table.insert(M.messages, text) end -- the server shows errors
    fire('KfJobFinished', p)
  end,
  ['$/progress'] = function(err, result, ctx, config)
    if type(result) == 'table' and type(result.value) == 'table' then
      table.insert(M.progress_log, { token = result.token, kind = result.value.kind, message = result.value.message })
    end
    local default = vim.lsp.handlers['$/progress']
    if default then return default(err, result, ctx, config) end
  end,
}

--- The active jobs (queued / running), optionally of one kernel.
function M.active_jobs(uri, kernel)
  local out = {}
  for _, j in pairs(M.jobs) do
    if (j.state == 'queued' or j.state == 'running') and (not uri or (j.uri == uri and j.kernel == kernel)) then
      table.insert(out, j)
    end
  end
  table.sort(out, function(a, b) return a.jobId < b.jobId end)
  return out
end

--- A statusline component: "kf: saxpy 3/8 1.21x" while searches run, "" otherwise.
function M.statusline()
  local act = M.active_jobs()
  if #act == 0 then return '' end
  if #act > 1 then return string.format('kf: %d jobs', #act) end
  local j = act[1]
  return string.format('kf: %s %d/%d %s', j.kernel, j.done or 0, j.budget or 0, j.bestSpeedup and j.bestSpeedup ~= vim.NIL and fmt_x(j.bestSpeedup) or '')
end

--- The kf client attached to a buffer.
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients
  if vim.lsp.get_clients then
    clients = vim.lsp.get_clients({ bufnr = bufnr, name = 'kf' })
  else
    clients = vim.tbl_values(vim.lsp.buf_get_clients(bufnr))
  end
  for _, c in ipairs(clients) do
    if c.name == 'kf' then return c end
  end
  return nil
end

local function request(client, method, params, handler, bufnr)
  if has('nvim-0.11') then return client:request(method, params, handler, bufnr) end
  return client.request(method, params, handler, bufnr)
end

local function execute(client, command, arg, bufnr, cb)
  request(client, 'workspace/executeCommand', { command = command, arguments = { arg } }, function(err, result)
    if err then
      notify('kf: ' .. command .. ': ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    if cb then cb(err, result) end
  end, bufnr)
end

local function kernel_from_actions(actions)
  for _, a in ipairs(actions or {}) do
    local c = a.command -- a CodeAction's command, or a Command itself
    if type(c) == 'string' then c = a end
    if type(c) == 'table' and type(c.command) == 'string' and c.command:match('^kf%.') and type(c.arguments) == 'table' then
      local arg = c.arguments[1]
      if type(arg) == 'table' and arg.uri and arg.kernel then return { uri = arg.uri, kernel = arg.kernel } end
    end
  end
  return nil
end
M._kernel_from_actions = kernel_from_actions

--- The server's code actions at the cursor: cb(err, actions).
function M.code_actions(bufnr, cb)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if not client then return cb({ message = 'no kf client attached to this buffer' }, nil) end
  local pos = vim.api.nvim_win_get_cursor(0)
  local p = { line = pos[1] - 1, character = pos[2] }
  request(client, 'textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) }, range = { start = p, ['end'] = p },
    context = { diagnostics = {} },
  }, function(err, result) cb(err, result or {}) end, bufnr)
end

--- The kernel a list of lenses names for a cursor line (0-based): the nearest lens at or
--- above the line, else the file's only kernel. Lenses come from the server, so this is
--- the server's idea of where kernels are (never the word under the cursor).
local function kernel_from_lenses(lenses, line)
  local best, names = nil, {}
  for _, l in ipairs(lenses or {}) do
    local ref = kernel_from_actions({ l })
    if ref then
      names[ref.kernel] = ref
      local at = l.range and l.range.start and l.range.start.line or -1
      if at <= line and (not best or at > best.line) then best = { line = at, ref = ref } end
    end
  end
  if best then return best.ref end
  local only, n = nil, 0
  for _, ref in pairs(names) do only, n = ref, n + 1 end
  return n == 1 and only or nil
end
M._kernel_from_lenses = kernel_from_lenses

--- The kernel at the cursor, as the server sees it: the kernel its code actions there are
--- about, else its code lenses' kernel at or above the cursor. cb(ref | nil), ref = {uri, kernel}.
function M.kernel_at_cursor(bufnr, cb)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  M.code_actions(bufnr, function(err, actions)
    local ref = not err and kernel_from_actions(actions) or nil
    if ref then return cb(ref) end
    local client = M.client(bufnr)
    if not client then return cb(nil) end
    request(client, 'textDocument/codeLens', { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }, function(e, lenses)
      cb(not e and kernel_from_lenses(lenses, line) or nil)
    end, bufnr)
  end)
end

local function with_kernel(fn)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    notify('kf: the kf language server is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  M.kernel_at_cursor(bufnr, function(ref)
    if not ref then
      notify('kf: no kernel at the cursor', vim.log.levels.WARN)
      return
    end
    fn(client, bufnr, ref)
  end)
end

--- :KfOptimize [budget] [evalSeconds]
function M.optimize(opts)
  opts = opts or {}
  with_kernel(function(client, bufnr, ref)
    local arg = { uri = ref.uri, kernel = ref.kernel }
    if opts.budget then arg.budget = opts.budget end
    if opts.eval_seconds then arg.evalSeconds = opts.eval_seconds end
    execute(client, 'kf.optimize', arg, bufnr, function(err, res)
      if err or type(res) ~= 'table' then return end
      if res.jobId == vim.NIL or res.jobId == nil then
        notify('kf: ' .. tostring(res.error or 'refused'), vim.log.levels.WARN)
      else
        notify(string.format('kf: optimizing %s (job %s, %s)', ref.kernel, res.jobId, res.state))
      end
    end)
  end)
end

--- :KfStop: the kernel's jobs at the cursor, else every running job.
function M.stop()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then return notify('kf: the kf language server is not attached to this buffer', vim.log.levels.WARN) end
  M.kernel_at_cursor(bufnr, function(ref)
    local jobs = ref and M.active_jobs(ref.uri, ref.kernel) or {}
    if #jobs == 0 then jobs = M.active_jobs() end
    if #jobs == 0 then return notify('kf: no search running') end
    for _, j in ipairs(jobs) do
      execute(client, 'kf.stop', { job = j.jobId }, bufnr, function(err)
        if not err then notify('kf: stopping ' .. j.kernel) end
      end)
    end
  end)
end

--- :KfApply [variant]: the best verified variant (or the given one) of the kernel at the cursor.
function M.apply(variant)
  with_kernel(function(client, bufnr, ref)
    local arg = { uri = ref.uri, kernel = ref.kernel }
    if variant and variant ~= '' then arg.variant = variant end
    execute(client, 'kf.applyVariant', arg, bufnr, function(err, res)
      if err then return end
      if type(res) == 'table' and res.applied == false and res.alreadyApplied == true then
        notify('kf: ' .. tostring(res.reason ~= vim.NIL and res.reason or 'already applied'))
      elseif type(res) == 'table' and res.applied == false then
        notify('kf: not applied: ' .. tostring(res.reason ~= vim.NIL and res.reason or 'the edit was refused'), vim.log.levels.WARN)
      elseif type(res) == 'table' and res.applied then
        notify('kf: applied the variant of ' .. ref.kernel)
      end
    end)
  end)
end

--- :KfJobs
function M.list_jobs()
  local lines = {}
  for _, j in pairs(M.jobs) do
    table.insert(lines, string.format('%s %s %s %d/%d best %s %s', j.jobId, j.kind, j.kernel, j.done or 0, j.budget or 0,
      j.bestSpeedup ~= vim.NIL and fmt_x(j.bestSpeedup) or '-', j.state))
  end
  table.sort(lines)
  notify(#lines > 0 and table.concat(lines, '\n') or 'kf: no jobs')
end

--- Send the LLM API key to the server process (never stored by kf): :KfSetApiKey prompts.
function M.set_api_key(key)
  local client = M.client(0)
  if not client then return notify('kf: the kf language server is not attached to this buffer', vim.log.levels.WARN) end
  key = key or vim.fn.inputsecret('kf LLM API key: ')
  if key == nil or key == '' then return end
  if has('nvim-0.11') then client:notify('kf/setApiKey', { apiKey = key }) else client.notify('kf/setApiKey', { apiKey = key }) end
  notify('kf: API key sent to the server process')
end

--- A client configuration (vim.lsp.start / vim.lsp.start_client / vim.lsp.config).
--- opts: python, extra_args, settings (the server's `kf` section), root_dir, filetypes.
function M.config(opts)
  opts = opts or {}
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.window = capabilities.window or {}
  capabilities.window.workDoneProgress = true
  -- the server asks for a lens refresh when jobs move (0.7 has no handler of its own: ours)
  capabilities.workspace = capabilities.workspace or {}
  capabilities.workspace.codeLens = { refreshSupport = true }
  -- an empty Lua table is a JSON array: no settings is the empty object, never []
  local settings = opts.settings
  if type(settings) ~= 'table' or next(settings) == nil then settings = vim.empty_dict() end
  return {
    name = 'kf',
    cmd = M.cmd(opts),
    filetypes = opts.filetypes or { 'cuda', 'cpp', 'c' },
    root_dir = opts.root_dir,
    root_markers = { '.kf', 'pyproject.toml', '.git' },
    capabilities = capabilities,
    init_options = { kf = settings },
    settings = { kf = settings },
    handlers = M.handlers,
    on_attach = function(client, bufnr)
      M.on_attach(client, bufnr)
      if opts.on_attach then opts.on_attach(client, bufnr) end
    end,
  }
end

--- Ask the server for a buffer's lenses and show them (any Neovim from 0.7).
function M.refresh_lenses(client, bufnr)
  if not vim.api.nvim_buf_is_loaded(bufnr) then return end
  request(client, 'textDocument/codeLens', { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }, function(err, result, ctx)
    if err then return end
    ctx = ctx or {}
    ctx.bufnr, ctx.client_id = bufnr, client.id
    vim.lsp.codelens.on_codelens(err, result, ctx, nil)
    fire('KfLensesChanged', { bufnr = bufnr })
  end, bufnr)
end

local function attached_buffers(client)
  local out = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) then
      local c = M.client(b)
      if c and c.id == client.id then table.insert(out, b) end
    end
  end
  return out
end

M.handlers['workspace/codeLens/refresh'] = function(_, _, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if client then
    vim.schedule(function()
      for _, b in ipairs(attached_buffers(client)) do M.refresh_lenses(client, b) end
    end)
  end
  return vim.NIL
end

--- Lenses on attach and when the buffer is entered or saved (no manual refresh needed).
function M.on_attach(client, bufnr)
  local group = vim.api.nvim_create_augroup('kf_lenses_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'BufEnter', 'BufWritePost', 'InsertLeave' }, {
    group = group, buffer = bufnr, callback = function() M.refresh_lenses(client, bufnr) end,
  })
  M.refresh_lenses(client, bufnr)
end

local function find_root(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  for _, m in ipairs({ '.kf', 'pyproject.toml', '.git' }) do
    local found = vim.fn.finddir(m, dir .. ';')
    if found == '' then found = vim.fn.findfile(m, dir .. ';') end
    if found ~= '' then return vim.fn.fnamemodify(found, ':p:h:h') end
  end
  return dir
end

--- Start (or reuse) the kf client for a buffer on Neovim 0.7-0.10. Returns the client id.
function M.start(opts, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local cfg = M.config(opts)
  cfg.root_dir = cfg.root_dir or find_root(bufnr)
  cfg.workspace_folders = { { uri = vim.uri_from_fname(cfg.root_dir), name = cfg.root_dir } }
  if vim.lsp.start then
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  M._ids = M._ids or {}
  local id = M._ids[cfg.root_dir]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(cfg)
    M._ids[cfg.root_dir] = id
  end
  if id then vim.lsp.buf_attach_client(bufnr, id) end
  return id
end

--- For Neovim < 0.11: start kf on the configured filetypes.
function M.setup(opts)
  opts = opts or {}
  local group = vim.api.nvim_create_augroup('kf_lsp', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = opts.filetypes or { 'cuda', 'cpp', 'c' },
    callback = function(ev) M.start(opts, ev.buf) end,
  })
  M.create_commands()
end

function M.create_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd('KfOptimize', function(a)
    local budget, secs = a.fargs[1], a.fargs[2]
    M.optimize({ budget = budget and tonumber(budget), eval_seconds = secs and tonumber(secs) })
  end, { nargs = '*', desc = 'kf: optimize the kernel at the cursor [budget] [evalSeconds]' })
  cmd('KfStop', function() M.stop() end, { desc = 'kf: stop the searches of the kernel at the cursor (else all)' })
  cmd('KfApply', function(a) M.apply(a.args) end, { nargs = '?', desc = 'kf: apply the best (or the given) variant' })
  cmd('KfJobs', function() M.list_jobs() end, { desc = 'kf: list jobs' })
  cmd('KfSetApiKey', function() M.set_api_key() end, { desc = 'kf: send the LLM API key to the server process' })
end

return M
