"""Benchmark: knowledge-base search (top 20, ranked, with snippets) at 100,000 articles in SQLite.

    python bench/kb.py                  # 100,000 articles, 5 rounds
    python bench/kb.py --quick          # 5,000 articles, 3 rounds
    python bench/kb.py --articles 20000 --db /tmp/kb.db --keep
    options: [--rounds 5] [--json]

Articles are generated from logistics words and common characters (100-400 characters each,
fixed seed), inserted in bulk and indexed by the product's own ``hub.kb.search.rebuild`` (not
timed).  Then, in interleaved rounds (bench/harness.py), the same queries of one, two, three
and four characters and two words run through ``hub.kb.search.search`` (segmentation, FTS5
phrase match, bm25, the join to the articles, snippets) and, as the baseline, as a bare FTS5
``MATCH`` of the same expression with ``LIMIT 20`` (no ranking, no join, no snippets).
Goal: search p50 ≤ 30 ms.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hub import schema  # noqa: E402
from hub.kb import search, text  # noqa: E402
from hub.kb.tables import KbArticle  # noqa: E402
from hub.store.db import database  # noqa: E402

WORDS = ("运费 快件 丢失 破损 赔偿 签收 派送 网点 中心 取件 寄件 包裹 物流 信息 查询 客服 投诉 工单 退货 "
         "代收 货款 结算 预付 余额 重量 体积 首重 续重 时效 延误 地址 电话 短信 通知 到达 转运 分拣 扫描 "
         "运单 面单 快递员 营业 时间 节假日 保价 理赔 流程 系统 登录 密码 账号 权限 打印 标签 扫码枪 "
         "电子秤 品牌 产品 营销 活动 优惠 价格 报价 询价 船公司 集装箱 航线 港口 客户 回访 满意度").split()
CHARS = "的一是在了不和有大这主中人上为们地个用工时要动国产以我到他会作来分生对于学下级就年阶义发成部民可出能方进同行面说种过命度革而多子后自社加小机也经力线本电高量长党得实家定深法表着水理化争现所二起政三好十战无农使性前等反体合斗路图把结第里正新开论之物从当两些还天资事队批点育重其思与间内去因件日利相由压员气业代全组数果期导平各基或月毛然如应形想制心样干都向变关问比展那它最及外没看治提五解系林者米群头意只明四道马认次文通但条较克又公孔领军流入接席位情运器并飞原油放立题质指建区验活众很教决特此常石强极土少已根共直团统式转别造切九你取西持总料连任志观调七么山程百报更见必真保热委手改管处己将修支识病象几先老光专什六型具示复安带每东增则完风回南广劳轮科北打积车计给节做务被整联步类集号列温装即毫知轴研单色坚据速防史拉世设达尔场织历花受求传口断况采精金界品判参层止边清至万确究书术状厂须离再目海交权且儿青才证低越际八试规斯近注办布门铁需走议县兵固除般引齿千胜细影济白格效置推空配刀叶率述今选养德话查差半敌始片施响收华觉备名红续均药标记难存测士身紧液派准斤角降维板许破述技消底床田势端感往神便贺村构照容非搞亚磨族火段算适讲按值美态黄易彪服早班麦削信排台声该击素张密害侯草何树肥继右属市严径螺检左页抗苏显苦英快称坏移约巴材省黑武培著河帝仅针怎植京助升王眼她抓含苗副杂普谈围食射源例致酸旧却充足短划剂宣环落首尺波承粉践府鱼随考刻靠够满夫失包住促枝局菌杆周护岩师举曲春元超负砂封换太模贫减阳扬江析亩木言球朝医校古呢稻宋听唯输滑站另卫字鼓刚写刘微略范供阿块某功套友限项余倒卷创律雨让骨远帮初皮播优占死毒圈伟季训控激找叫云互跟裂粮粒母练塞钢顶策双留误础吸阻故寸盾晚丝女散焊功株亲院冷彻弹错散商视艺灭版烈零室轻血倍缺厘泵察绝富城冲喷壤简否柱李望盘磁雄似困巩益洲脱投送奴侧润盖挥距触星松送获兴独官混纪依未突架宽冬章湿偏纹吃执阀矿寨责熟稳夺硬价努翻奇甲预职评读背协损棉侵灰虽矛厚罗泥辟告卵箱掌氧恩爱停曾溶营终纲孟钱待尽俄缩沙退陈讨奋械载胞幼哪剥迫旋征槽倒握担仍呀鲜吧卡粗介钻逐弱脚怕盐末阴丰雾冠丙街莱贝辐肠付吉渗瑞惊顿挤秒悬姆烂森糖圣凹陶词迟蚕亿矩"
QUERIES = ("费", "件", "运费", "丢失", "签收", "工作日", "快递员", "物流信息", "代收货款", "运费 赔偿", "网点 电话")


def generate(n: int, seed: int = 19) -> list[dict]:
    rnd = random.Random(seed)
    now = time.time_ns() // 1_000_000
    rows = []
    for i in range(n):
        parts, size = [], rnd.randint(100, 400)
        while sum(map(len, parts)) < size:
            parts.append(rnd.choice(WORDS) if rnd.random() < 0.35 else
                         "".join(rnd.choice(CHARS) for _ in range(rnd.randint(1, 4))))
            if rnd.random() < 0.08:
                parts.append("，" if rnd.random() < 0.7 else "。")
        title = "".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 4)))
        rows.append({"category": rnd.choice(("product", "logistics", "faq", "business", "system")), "title": title,
                     "body": "".join(parts), "tags": "", "version": 1, "editor": "bench", "created_ms": now,
                     "updated_ms": now, "archived": False})
    return rows


def main() -> None:
    ap = harness.parser(__doc__)
    ap.add_argument("--articles", type=int, default=None, help="articles to generate (100,000; 5,000 with --quick)")
    ap.add_argument("--db", default=None, help="the SQLite file (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = harness.parse(ap)
    n = args.articles or (5_000 if args.quick else 100_000)
    folder = tempfile.mkdtemp(prefix="bench-kb-")
    path = args.db or os.path.join(folder, "kb.db")
    try:
        schema.connect(path, create=True)
        if KbArticle.select().count() != n:
            KbArticle.delete().execute()
            print(f"generating and indexing {n:,} articles …", file=sys.stderr)
            rows = generate(n)
            with database.atomic():
                for i in range(0, n, 1000):
                    KbArticle.insert_many(rows[i:i + 1000]).execute()
            t = time.perf_counter()
            search.rebuild()
            print(f"indexed in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        text.query_terms("预热")        # load jieba's dictionary before timing
        db = database.obj
        exprs = {q: search._fts_expr(text.query_terms(q)) for q in QUERIES}

        def timed(fn):
            times = []
            for q in QUERIES:
                t = time.perf_counter()
                fn(q)
                times.append((time.perf_counter() - t) * 1000)
            return {"p50_ms": statistics.median(times), "max_ms": max(times)}

        b = harness.Bench("kb", args, params={"articles": n, "queries": len(QUERIES)})
        b.part("bare", lambda r: timed(lambda q: db.execute_sql(
            "SELECT rowid FROM kb_fts WHERE kb_fts MATCH ? LIMIT 20", (exprs[q],)).fetchall()))
        b.part("search", lambda r: timed(lambda q: search.search(q, limit=20)))
        b.compare("search_p50", "search top 20 (ranked, snippets), p50", "search.p50_ms", "bare.p50_ms", unit="ms",
                  figure_goal=("<=", 30), headline=True)
        b.compare("search_max", "search top 20, slowest query", "search.max_ms", "bare.max_ms", unit="ms")
        b.figure("bare", "baseline: bare FTS5 MATCH, LIMIT 20, p50", "bare.p50_ms", unit="ms", better="lower")
        b.noise_from("bare.p50_ms")
        b.run()
    finally:
        database.close()
        if not args.keep and not args.db:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
