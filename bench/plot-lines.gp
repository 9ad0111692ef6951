# bench/plot-lines.gp — one chart of several data files, as SVG and PNG.
# Called by bench/plot.sh; every parameter comes with -e:
#   out    output path without extension (OUT.svg and OUT.png are written)
#   heading, xlab, ylab   chart title and axis labels
#   files  data files, space separated; titles  their legends, "quoted words"
#   cols   the using spec (default "1:2"); style  lines or linespoints
#   logx, logy  1 for a log scale; xmax  upper x bound (optional)
#   marks  a data file of reference points, "x y label" per line (optional)
if (!exists("cols")) cols = "1:2"
if (!exists("style")) style = "linespoints"
if (!exists("logx")) logx = 0
if (!exists("logy")) logy = 0
set title heading noenhanced
set xlabel xlab noenhanced
set ylabel ylab noenhanced
set grid
set key bottom right noenhanced
if (logx) set logscale x 2
if (logy) set logscale y
if (exists("xmax")) set xrange [:xmax]
n = words(files)
plotcmd = "plot for [i=1:n] word(files, i) using ".cols." with ".style." lw 2 title word(titles, i)"
if (exists("marks")) plotcmd = plotcmd . \
  ", marks using 1:2 with points pt 7 ps 1.4 lc rgb 'black' title \"the paper's published figures\"" . \
  ", marks using 1:2:3 with labels left offset 1,0 font ',10' noenhanced notitle"
do for [t in "svg png"] {
  if (t eq "svg") { set terminal svg size 760,460 dynamic font "sans,12" } else { set terminal pngcairo size 950,575 font "sans,11" }
  set output out.".".t
  eval plotcmd
  unset output
}
