-- Headless Neovim test: a search stopped after it found a faster variant (run by
-- tests/test_editor_clients.py). Its figures are the search's own, never re-timed, and every
-- view says so: the Apply lens, the Apply code action (with its interval), the hover (which
-- must not call the stopped search "running"), the progress end and the finished message.
--   nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/test/kf_stop_test.lua"
-- Env: KF_REPO, KF_PYTHON, KF_FILE (a kernel whose tuning finds a large win at once),
-- KF_KERNEL, KF_LOG.
local logf = assert(io.open(assert(os.getenv('KF_LOG')), 'w'))
local function log(...)
  local parts = {}
  for _, v in ipairs({ ... }) do table.insert(parts, type(v) == 'string' and v or vim.inspect(v)) end
  logf:write(table.concat(parts, ' ') .. '\n')
  logf:flush()
end
local function check(cond, what)
  if not cond then error('check failed: ' .. what, 2) end
  log('ok: ' .. what)
end
local notes = {}
vim.notify = function(msg, level) table.insert(notes, msg); log('notify: ' .. msg) end
vim.api.nvim_echo = function(chunks) end -- (progress echoes: not under test here)

local ok, err = xpcall(function()
  local repo = assert(os.getenv('KF_REPO'))
  vim.opt.runtimepath:prepend(repo .. '/editors/nvim')
  vim.cmd('runtime plugin/kf.lua')
  local kf = require('kf')
  kf.setup({ python = os.getenv('KF_PYTHON'), settings = { budget = { evaluations = 40 }, evalSeconds = 0.05 } })
  local file, kernel = assert(os.getenv('KF_FILE')), assert(os.getenv('KF_KERNEL'))
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  vim.bo.filetype = 'cpp'
  local buf = vim.api.nvim_get_current_buf()
  local function lenses()
    local out = {}
    for _, l in ipairs(vim.lsp.codelens.get(buf) or {}) do
      if l.command and l.command.title then table.insert(out, l.command.title) end
    end
    return out
  end
  local function find(list, s)
    for _, t in ipairs(list) do if t:find(s, 1, true) then return t end end
  end
  check(vim.wait(60000, function() return find(lenses(), 'Optimize') ~= nil end, 100), 'the Optimize lens shows')
  local line = vim.fn.search('^void ' .. kernel .. '(', 'nw')
  vim.api.nvim_win_set_cursor(0, { line, 6 })
  vim.cmd('KfOptimize')
  -- stop as soon as a faster variant is known (the space holds 10 points: the search is far from its end)
  check(vim.wait(300000, function() return find(lenses(), 'faster variant') ~= nil end, 200),
    'a faster variant shows while the search runs: ' .. vim.inspect(lenses()))
  vim.cmd('KfStop')
  check(vim.wait(60000, function() return #kf.finished > 0 end, 200), 'kf/jobFinished after :KfStop')
  local fin = kf.finished[1]
  check(fin.state == 'cancelled', 'the job ended cancelled: ' .. vim.inspect(fin.state))
  check(find(notes, 'not re-timed') ~= nil, 'the finished message says not re-timed: ' .. vim.inspect(notes))
  local last = kf.progress_log[#kf.progress_log]
  check(last and last.kind == 'end' and last.message:find('not re-timed', 1, true),
    'the progress ends with "not re-timed": ' .. vim.inspect(last))
  local apply
  check(vim.wait(10000, function()
    apply = find(lenses(), 'faster variant')
    return apply ~= nil and apply:find('not re-timed', 1, true) ~= nil
  end, 200), 'the Apply lens says not re-timed: ' .. vim.inspect(lenses()))
  local res = vim.lsp.buf_request_sync(buf, 'textDocument/codeAction', { textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = line - 1, character = 6 }, ['end'] = { line = line - 1, character = 6 } },
    context = { diagnostics = {} } }, 10000)
  local actions = {}
  for _, r in pairs(res or {}) do for _, a in ipairs(r.result or {}) do table.insert(actions, a.title) end end
  local act = find(actions, 'Apply variant')
  check(act ~= nil and act:find('not re-timed', 1, true) and act:find('[', 1, true),
    'the Apply action says not re-timed, with its interval: ' .. vim.inspect(actions))
  local hres = vim.lsp.buf_request_sync(buf, 'textDocument/hover', { textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line - 1, character = 6 } }, 10000)
  local hover = ''
  for _, r in pairs(hres or {}) do if r.result then hover = r.result.contents.value or '' end end
  check(hover:find('not re-timed', 1, true) ~= nil, 'the hover says not re-timed')
  check(not hover:find('running', 1, true) and not hover:find('so far', 1, true),
    'the hover does not call the stopped search running:\n' .. hover)
end, debug.traceback)
if not ok then log('ERROR ' .. tostring(err)) end
log(ok and 'RESULT: PASS' or 'RESULT: FAIL')
logf:close()
vim.cmd(ok and 'qall!' or 'cquit! 1')
