-- Headless Neovim test of editors/nvim against the real `kf serve` (run by
-- tests/test_editor_clients.py):
--   nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/test/kf_test.lua"
-- Env: KF_REPO (repository), KF_PYTHON (interpreter with kf), KF_FILE (a copy of an
-- example in a temp workspace), KF_KERNEL, KF_LOG (result lines), KF_BUDGET, KF_EVAL_SECONDS.
local log_path = assert(os.getenv('KF_LOG'))
local logf = assert(io.open(log_path, 'w'))
local function log(...)
  local parts = {}
  for _, v in ipairs({ ... }) do table.insert(parts, type(v) == 'string' and v or vim.inspect(v)) end
  logf:write(table.concat(parts, ' ') .. '\n')
  logf:flush()
end
local failed = false
local function finish()
  log(failed and 'RESULT: FAIL' or 'RESULT: PASS')
  logf:close()
  vim.cmd(failed and 'cquit! 1' or 'qall!')
end
local function check(cond, what)
  if not cond then error('check failed: ' .. what, 2) end
  log('ok: ' .. what)
end

local ok, err = xpcall(function()
  local repo = assert(os.getenv('KF_REPO'))
  vim.opt.runtimepath:prepend(repo .. '/editors/nvim')
  vim.cmd('runtime plugin/kf.lua') -- the plugin's user commands
  local kf = require('kf')
  log('nvim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. '.' .. tostring(vim.version().patch))
  check(vim.fn.exists(':KfOptimize') == 2 and vim.fn.exists(':KfStop') == 2 and vim.fn.exists(':KfApply') == 2,
    'plugin/kf.lua defines :KfOptimize, :KfStop, :KfApply')
  -- lsp/kf.lua (the 0.11 runtime config) loads and names the server
  local cfg11 = dofile(repo .. '/editors/nvim/lsp/kf.lua')
  check(cfg11.name == 'kf' and cfg11.cmd[2] == 'serve' and vim.tbl_contains(cfg11.filetypes, 'cuda'), 'lsp/kf.lua is a kf config')

  -- what the server tells the user (window/showMessage), to check no warning is popped
  local shown = {}
  local default_show = vim.lsp.handlers['window/showMessage']
  vim.lsp.handlers['window/showMessage'] = function(err, result, ctx, config)
    if type(result) == 'table' then table.insert(shown, result.message) end
    return default_show(err, result, ctx, config)
  end
  local function lens_titles(b)
    local out = {}
    for _, l in ipairs(vim.lsp.codelens.get(b) or {}) do
      if l.command and l.command.title then table.insert(out, l.command.title) end
    end
    return out
  end
  local function has_lens(b, prefix)
    for _, t in ipairs(lens_titles(b)) do
      if t:sub(1, #prefix) == prefix then return true end
    end
    return false
  end

  local file, kernel = assert(os.getenv('KF_FILE')), assert(os.getenv('KF_KERNEL'))
  -- setup() with no settings at all (the README's minimal configuration)
  kf.setup({ python = os.getenv('KF_PYTHON') })
  check(vim.json.encode(kf.config({}).init_options) == '{"kf":{}}', 'no settings: init_options {"kf":{}} (not [])')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  vim.bo.filetype = 'cpp' -- (-u NONE: no filetype detection) fires setup()'s FileType autocmd
  local buf = vim.api.nvim_get_current_buf()
  local before = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
  check(vim.wait(30000, function()
    local c = kf.client(buf)
    return c ~= nil and c.initialized ~= false and c.server_capabilities ~= nil and next(c.server_capabilities or {}) ~= nil
  end, 100), 'setup() started the server on FileType and it attached')
  -- lenses without any manual refresh (on attach; then the server's workspace/codeLens/refresh)
  check(vim.wait(30000, function() return has_lens(buf, 'Optimize') end, 100),
    'the Optimize lens shows without a manual refresh: ' .. vim.inspect(lens_titles(buf)))
  vim.wait(1500, function() return false end, 100) -- the server's start-up messages, if any
  for _, m in ipairs(shown) do
    check(not m:find('settings', 1, true), 'no settings warning at start: ' .. m)
  end
  -- the lenses sit on the kernel's name line, where vim.lsp.codelens.run() looks (not on `extern "C"` above it)
  local name_line = vim.fn.search('^void ' .. kernel .. '(', 'nw')
  local lens_lines = {}
  for _, l in ipairs(vim.lsp.codelens.get(buf) or {}) do table.insert(lens_lines, l.range.start.line + 1) end
  check(name_line > 0 and #lens_lines > 0 and vim.tbl_contains(lens_lines, name_line)
    and not vim.tbl_contains(lens_lines, name_line - 1),
    'the lenses are on the name line ' .. name_line .. ': ' .. vim.inspect(lens_lines))

  -- cursor on the kernel's definition line
  local def = vim.fn.search('^void ' .. kernel .. '(', 'w')
  check(def > 0, 'found the kernel definition')
  vim.api.nvim_win_set_cursor(0, { def, 6 })
  local titles
  check(vim.wait(20000, function()
    local done = false
    kf.code_actions(buf, function(e, actions)
      if not e then
        titles = vim.tbl_map(function(a) return a.title end, actions)
      end
      done = true
    end)
    vim.wait(5000, function() return done end, 20)
    return titles and vim.tbl_contains(titles, 'Optimize kernel ' .. kernel)
  end, 200), 'code actions on the kernel: ' .. vim.inspect(titles))
  log('code actions: ' .. table.concat(titles, ' | '))

  vim.cmd('KfOptimize ' .. (os.getenv('KF_BUDGET') or '8') .. ' ' .. (os.getenv('KF_EVAL_SECONDS') or '0.2'))
  check(vim.wait(30000, function() return next(kf.jobs) ~= nil end, 100), 'kf/jobStarted after :KfOptimize')
  check(vim.wait(60000, function() return has_lens(buf, 'Optimizing') or has_lens(buf, 'Queued') or kf.finished[1] ~= nil end, 100),
    'the lens follows the search by itself: ' .. vim.inspect(lens_titles(buf)))
  local job
  check(vim.wait(540000, function()
    job = kf.finished[1]
    return job ~= nil
  end, 200), 'kf/jobFinished')
  log('finished: ' .. vim.inspect({ state = job.state, done = job.done, budget = job.budget, best = job.best }))
  check(job.state == 'done', 'the search ended normally (' .. tostring(job.state) .. ')')
  local kinds = {}
  for _, p in ipairs(kf.progress_log) do table.insert(kinds, p.kind) end
  log('$/progress kinds: ' .. table.concat(kinds, ','))
  check(kinds[1] == 'begin' and kinds[#kinds] == 'end', '$/progress begin ... end')
  check(kf.statusline() == '', 'no job left running (statusline empty)')
  check(vim.wait(20000, function() return not has_lens(buf, 'Optimizing') and has_lens(buf, 'Optimize') end, 100),
    'after the search the lens is back to Optimize by itself: ' .. vim.inspect(lens_titles(buf)))

  local best = job.best
  local significant = type(best) == 'table' and best.significant ~= false and best.operator ~= 'reference'
  vim.api.nvim_win_set_cursor(0, { def, 6 })
  local n_msgs = #kf.messages
  local picked
  if significant then
    -- a user on the kernel's name line runs its lens: codelens.run() finds the lenses of the
    -- cursor's line (Optimize and Apply: it asks which; the Apply one is chosen)
    vim.ui.select = function(items, opts, on_choice)
      for i, item in ipairs(items) do
        local t = opts.format_item and opts.format_item(item) or tostring(item)
        if t:find('Apply', 1, true) then picked = t; return on_choice(item, i) end
      end
      on_choice(nil, nil)
    end
    vim.lsp.codelens.run()
    check(picked ~= nil, 'codelens.run() on the name line offered the Apply lens')
    log('lens run: ' .. tostring(picked))
  else
    vim.cmd('KfApply')
  end
  if significant then
    check(vim.wait(30000, function()
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') ~= before
    end, 100), 'KfApply changed the buffer (workspace/applyEdit)')
    local after = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
    for name, value in pairs(best.tunables or {}) do
      check(after:find(name .. ' ' .. tostring(value), 1, true) ~= nil or after:find(name .. ' = ' .. tostring(value), 1, true) ~= nil,
        string.format('the buffer now has %s %s', name, tostring(value)))
    end
    vim.wait(3000, function() return #kf.messages > n_msgs end, 50)
    log('after apply: ' .. tostring(kf.messages[#kf.messages]))
    -- undo, then :KfApply with the cursor where undo left it (a #define line: the word under
    -- the cursor is no kernel); the kernel is the server's, the variant applies again
    vim.cmd('normal! u')
    check(vim.wait(5000, function()
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') == before
    end, 50), 'undo restored the original')
    local defline = vim.fn.search('^#define', 'w')
    check(defline > 0 and defline < def, 'a #define line above the kernel')
    vim.api.nvim_win_set_cursor(0, { defline, 2 })
    check(vim.fn.expand('<cword>') == 'define', 'the word under the cursor is "define"')
    n_msgs = #kf.messages
    vim.cmd('KfApply')
    check(vim.wait(30000, function()
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') == after
    end, 100), ':KfApply on the #define line applied the variant of ' .. kernel .. ' again: ' .. vim.inspect(kf.messages))
    for i = n_msgs + 1, #kf.messages do
      check(not kf.messages[i]:find("'define'", 1, true), 'no kernel "define": ' .. kf.messages[i])
    end
    -- and applying it once more says it is there already, not that the kernel "changed"
    n_msgs = #kf.messages
    local n_shown = #shown
    vim.cmd('KfApply')
    check(vim.wait(30000, function()
      for i = n_msgs + 1, #kf.messages do
        if kf.messages[i]:find('already', 1, true) then return true end
      end
      return false
    end, 100), ':KfApply of the applied variant says "already": ' .. vim.inspect(kf.messages))
    vim.wait(1000, function() return false end, 100)
    for i = n_msgs + 1, #kf.messages do
      check(not kf.messages[i]:find('changed', 1, true), 'no "changed": ' .. kf.messages[i])
    end
    for i = n_shown + 1, #shown do
      check(not shown[i]:find('changed', 1, true), 'the server pops no "changed": ' .. shown[i])
    end
    check(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') == after, 'the buffer is as applied')
  else
    -- no significant variant in this budget: applying must say so honestly
    check(vim.wait(30000, function()
      for i = n_msgs + 1, #kf.messages do
        if kf.messages[i]:find('no verified faster variant', 1, true) then return true end
      end
      return false
    end, 100), 'KfApply reports "no verified faster variant"')
    check(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') == before, 'the buffer is unchanged')
  end
  log('messages: ' .. vim.inspect(kf.messages))

  -- CUDA on a machine without a GPU: the warning fits Neovim's message line (details in the log)
  local cuda = os.getenv('KF_CUDA_FILE')
  if cuda and os.getenv('KF_NO_CUDA_GPU') == '1' then
    vim.cmd('edit ' .. vim.fn.fnameescape(cuda))
    vim.bo.filetype = 'cuda'
    local cbuf = vim.api.nvim_get_current_buf()
    check(vim.wait(30000, function() return kf.client(cbuf) ~= nil and has_lens(cbuf, 'Optimize') end, 100),
      'the CUDA file is attached with its lenses')
    vim.api.nvim_win_set_cursor(0, { vim.fn.search('void saxpy(', 'nw'), 0 })
    local n_shown = #shown
    vim.cmd('KfOptimize 2 0.05')
    local said
    check(vim.wait(120000, function()
      for i = n_shown + 1, #shown do
        if shown[i]:find('no CUDA GPU', 1, true) then said = shown[i]; return true end
      end
      return false
    end, 100), 'running CUDA without a GPU is said: ' .. vim.inspect(shown))
    log('cuda warning (' .. #said .. ' of ' .. vim.o.columns .. ' columns): ' .. said)
    check(#said < vim.o.columns and not said:find('\n', 1, true), 'the warning fits the message line: ' .. said)
    check(said:find('kf.scheduler', 1, true) ~= nil, 'it names the setting')
  end
  local c = kf.client(buf)
  c.stop()
  vim.wait(10000, function() return c.is_stopped() end, 100)
end, debug.traceback)
if not ok then
  failed = true
  log('ERROR: ' .. tostring(err))
end
finish()
