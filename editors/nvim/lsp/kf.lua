-- Neovim >= 0.11: put editors/nvim on 'runtimepath', then
--   vim.lsp.config('kf', { cmd = { '/path/to/.venv/bin/python', '-m', 'kf_lsp', 'serve' },
--                          settings = { kf = { budget = { evaluations = 32 } } } })  -- optional
--   vim.lsp.enable('kf')
-- (default cmd: `kf serve`, or vim.g.kf_python -m kf_lsp serve)
local kf = require('kf')
local cfg = kf.config({})
cfg.root_dir = nil -- vim.lsp.config uses root_markers
return cfg
